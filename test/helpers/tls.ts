import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// Certificates for the TLS servers the tests start (Redis over TLS, an https document host).

export interface TlsMaterial { caFile: string, certFile: string, keyFile: string }
let tlsMaterial: TlsMaterial | undefined

function openssl (dir: string, args: string[]): void {
  const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' })
  if (result.error !== undefined) throw new Error(`openssl not found (${result.error.message}): apt-get install openssl`)
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr.trim()}`)
}

/**
 * A CA and a server certificate for localhost and 127.0.0.1, made once per test process (RSA key
 * generation takes a noticeable fraction of a second) and shared by every TLS server.
 */
export function tlsFiles (): TlsMaterial {
  if (tlsMaterial !== undefined) return tlsMaterial
  const dir = mkdtempSync(join(tmpdir(), 'test-tls-'))
  process.once('exit', () => { rmSync(dir, { recursive: true, force: true }) })
  // Our own config, so that neither the system openssl.cnf nor OPENSSL_CONF changes the certificates.
  writeFileSync(join(dir, 'openssl.cnf'), [
    '[req]',
    'distinguished_name = dn',
    'prompt = no',
    '[dn]',
    'CN = placeholder',
    '[ca]',
    'basicConstraints = critical, CA:TRUE',
    'keyUsage = critical, keyCertSign, cRLSign',
    'subjectKeyIdentifier = hash',
    ''
  ].join('\n'))
  writeFileSync(join(dir, 'server.ext'), [
    'basicConstraints = CA:FALSE',
    'keyUsage = critical, digitalSignature, keyEncipherment',
    'extendedKeyUsage = serverAuth, clientAuth',
    'subjectAltName = DNS:localhost, IP:127.0.0.1',
    ''
  ].join('\n'))
  openssl(dir, ['req', '-x509', '-config', 'openssl.cnf', '-extensions', 'ca', '-newkey', 'rsa:2048', '-nodes',
    '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-sha256', '-subj', '/CN=analytics-mcp test CA'])
  openssl(dir, ['req', '-new', '-config', 'openssl.cnf', '-newkey', 'rsa:2048', '-nodes',
    '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost'])
  openssl(dir, ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key',
    '-set_serial', `0x${randomBytes(16).toString('hex')}`, '-days', '2', '-sha256', '-extfile', 'server.ext', '-out', 'server.crt'])
  tlsMaterial = { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key') }
  return tlsMaterial
}

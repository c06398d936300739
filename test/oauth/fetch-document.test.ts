import { readFileSync } from 'node:fs'
import t from 'tap'
import type { Test } from 'tap'
import { DocumentFetchError, fetchJsonDocument, isPublicAddress } from '../../src/oauth/fetch-document.ts'
import type { DocumentFetchOptions } from '../../src/oauth/fetch-document.ts'
import { json, startHttpsServer } from '../helpers/https-server.ts'

// The SSRF boundary for Client ID Metadata Documents: a URL anyone can put in a client_id.

const LIMITS = { timeoutMs: 2000, maxBytes: 4096 }

async function refusal (t: Test, url: string, options: DocumentFetchOptions): Promise<DocumentFetchError> {
  try {
    await fetchJsonDocument(url, options)
  } catch (err) {
    t.type(err, DocumentFetchError)
    return err as DocumentFetchError
  }
  t.fail(`${url} was fetched`)
  return new DocumentFetchError('network', 'fetched')
}

t.test('which addresses count as public', async t => {
  for (const address of ['8.8.8.8', '1.1.1.1', '2001:4860:4860::8888']) t.ok(isPublicAddress(address), `${address} is public`)
  for (const address of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1', '255.255.255.255',
    '::1', '::', 'fc00::1', 'fe80::1', '::ffff:127.0.0.1', '::ffff:10.0.0.1', 'not-an-address']) {
    t.notOk(isPublicAddress(address), `${address} is not`)
  }
})

t.test('refused before any connection', async t => {
  const strict = { ...LIMITS, allowPrivateAddresses: false }
  t.equal((await refusal(t, 'http://example.com/client.json', strict)).reason, 'not_https', 'plain http')
  for (const url of ['https://127.0.0.1/c.json', 'https://10.0.0.7/c.json', 'https://169.254.169.254/latest/meta-data', 'https://[::1]/c.json', 'https://[::ffff:7f00:1]/c.json']) {
    t.equal((await refusal(t, url, strict)).reason, 'private_address', `${url}: a literal non-public address`)
  }
})

t.test('a host name that resolves to loopback is refused at connect time', async t => {
  const host = await startHttpsServer(t)
  host.route('/client.json', json({ client_id: 'x' }))
  const refused = await refusal(t, `${host.origin}/client.json`, { ...LIMITS, allowPrivateAddresses: false, ca: readFileSync(host.caFile, 'utf8') })
  t.equal(refused.reason, 'private_address', 'localhost resolves to 127.0.0.1: refused')
  t.equal(host.hits('/client.json'), 0, 'the server never saw a request')
})

t.test('documents of a trusted host (private addresses allowed, as in tests and in-cluster clients)', async t => {
  const host = await startHttpsServer(t)
  const options = { ...LIMITS, allowPrivateAddresses: true, ca: readFileSync(host.caFile, 'utf8') }

  host.route('/ok.json', json({ client_id: 'ok' }, { 'cache-control': 'public, max-age=600' }))
  const fetched = await fetchJsonDocument(`${host.origin}/ok.json`, options)
  t.same(fetched, { body: { client_id: 'ok' }, maxAgeSeconds: 600 }, 'the JSON and its max-age')
  host.route('/nostore.json', json({}, { 'cache-control': 'no-store' }))
  t.equal((await fetchJsonDocument(`${host.origin}/nostore.json`, options)).maxAgeSeconds, 0, 'no-store: not cached')

  host.route('/slow.json', () => { /* never answers */ })
  t.equal((await refusal(t, `${host.origin}/slow.json`, { ...options, timeoutMs: 300 })).reason, 'timeout', 'a host that never answers')
  host.route('/trickle.json', (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.write('{"a":')
    const timer = setInterval(() => response.write(' '), 50)
    response.on('close', () => clearInterval(timer))
  })
  t.equal((await refusal(t, `${host.origin}/trickle.json`, { ...options, timeoutMs: 500 })).reason, 'timeout', 'a host that trickles bytes forever')

  host.route('/declared-huge.json', (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json', 'content-length': String(10_000_000) })
    response.write('{')
  })
  t.equal((await refusal(t, `${host.origin}/declared-huge.json`, options)).reason, 'too_large', 'a Content-Length over the limit')
  host.route('/streamed-huge.json', (_request, response) => {
    response.writeHead(200, { 'content-type': 'application/json' })
    response.write(`["${'x'.repeat(3000)}`)
    response.end(`${'y'.repeat(3000)}"]`)
  })
  t.equal((await refusal(t, `${host.origin}/streamed-huge.json`, options)).reason, 'too_large', 'a chunked body that grows over the limit')

  host.route('/moved.json', (_request, response) => {
    response.writeHead(302, { location: 'https://169.254.169.254/latest/meta-data' })
    response.end()
  })
  t.equal((await refusal(t, `${host.origin}/moved.json`, options)).reason, 'redirect', 'redirects are not followed')
  t.equal((await refusal(t, `${host.origin}/missing.json`, options)).reason, 'http_status', 'a 404')
  host.route('/page.json', (_request, response) => { response.end('<html>') })
  t.equal((await refusal(t, `${host.origin}/page.json`, options)).reason, 'not_json', 'not JSON')

  const untrusted = await refusal(t, `${host.origin}/ok.json`, { ...options, ca: undefined })
  t.equal(untrusted.reason, 'network', 'a certificate no trusted CA signed')
  t.notMatch(untrusted.message, /self.signed|certificate/i, 'the message stays generic (no TLS internals to a client)')
})

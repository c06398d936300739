import { spawn, spawnSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

// nginx (Debian's nginx-light) in front of replicas, as an ingress controller runs it: HTTP/1.1
// keep-alive to the upstreams, Host kept, nothing buffered. Used by the soak and bench/replicas.ts.

/** The nginx binary, or undefined when it is not installed. */
export const NGINX = ['/usr/sbin/nginx', 'nginx'].find(candidate => spawnSync(candidate, ['-v']).status === 0)

export interface NginxOptions {
  /** Its own directory: config, pid, logs and temp files. */
  dir: string
  /** The loopback port it listens on. */
  port: number
  /** Loopback ports of the replicas. */
  upstreams: readonly number[]
  /**
   * Take a failing replica out for 2 s and retry the request on the other one (what an
   * ingress does while a pod drains); off, every request goes where round-robin sends it.
   */
  failover?: boolean
}

export function nginxConfig ({ dir, port, upstreams, failover = false }: NginxOptions): string {
  const server = (upstream: number): string => `server 127.0.0.1:${upstream}${failover ? ' max_fails=1 fail_timeout=2s' : ''};`
  return `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log ${failover ? 'crit' : 'warn'};
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream analytics { ${upstreams.map(server).join(' ')} keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://analytics;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_buffering off;${failover ? '\n      proxy_next_upstream error timeout http_502;' : ''}
    }
  }
}
`
}

/** Start nginx and wait until a replica answers /healthz through it. */
export async function startNginx (options: NginxOptions): Promise<ChildProcess> {
  if (NGINX === undefined) throw new Error('nginx is not installed (apt-get install nginx-light, or `make test-services` as root)')
  mkdirSync(options.dir, { recursive: true })
  const file = path.join(options.dir, 'nginx.conf')
  writeFileSync(file, nginxConfig(options))
  const child = spawn(NGINX, ['-c', file, '-p', options.dir, '-g', 'daemon off;'], { stdio: 'ignore' })
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx exited with ${child.exitCode} (see ${options.dir}/error.log)`)
    const status = await fetch(`http://127.0.0.1:${options.port}/healthz`).then(response => response.status, () => 0)
    if (status === 200) return child
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error(`nginx on ${options.port} did not answer /healthz`)
}

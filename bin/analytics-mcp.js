#!/usr/bin/env node
// The command `analytics-mcp`, run directly, through npm's bin symlink or by npx: Node resolves
// the symlink, so dist/ is found next to this file's real location. dist/ is the compiled CLI
// (npm run build; make setup and npm pack run it).
import { existsSync } from 'node:fs'

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(`analytics-mcp: needs Node 24 or newer; this is Node ${process.versions.node}\n`)
  process.exit(1)
}
const cli = new URL('../dist/cli.js', import.meta.url)
if (!existsSync(cli)) {
  process.stderr.write('analytics-mcp: dist/ is missing: in a checkout run `make setup` or `npm run build` first\n')
  process.exit(1)
}
const { runCli } = await import(cli.href)
await runCli(process.argv.slice(2))

import { spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import t from 'tap'
import { isSeq, parseDocument } from 'yaml'
import { startFixtureServer } from './conformance/fixture-server.ts'

// The official MCP conformance suite against the real stack: buildApp with the suite's fixture
// surface (test/conformance/). Each CLI run must exit 0: every failure is listed in its
// baseline (test/conformance/expected-failures-<revision>.yml, with its reason) and no listed
// scenario passes. `make conformance` runs this file alone and prints the table.

const require = createRequire(import.meta.url)

interface Cli {
  version: string
  bin: string
  /** The suite's requirement sets (0.2+): which scenarios a revision runs without scoring. */
  requirementsDir?: string
}

function cli (packageName: string): Cli {
  const manifest = require.resolve(`${packageName}/package.json`)
  const { version, bin } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string, bin: Record<string, string> }
  const root = path.dirname(manifest)
  const requirementsDir = path.join(root, 'requirements')
  return {
    version,
    bin: path.join(root, Object.values(bin)[0] as string),
    ...(existsSync(requirementsDir) ? { requirementsDir } : {})
  }
}

const STABLE = cli('@modelcontextprotocol/conformance')
// 0.2 adds the 2026-07-28 scenarios, the requirement sets, and schema validation of every
// message on the wire, which it also applies to the legacy revisions: so it runs those too.
const NEXT = cli('conformance-next')

interface Run {
  cli: Cli
  revision: '2025-06-18' | '2025-11-25' | '2026-07-28'
  /** Selects the scenarios: a spec version, or a revision's frozen requirement set. */
  select: '--spec-version' | '--requirements'
}

const RUNS: readonly Run[] = [
  { cli: STABLE, revision: '2025-06-18', select: '--spec-version' },
  { cli: STABLE, revision: '2025-11-25', select: '--spec-version' },
  { cli: NEXT, revision: '2025-06-18', select: '--spec-version' },
  { cli: NEXT, revision: '2025-11-25', select: '--requirements' },
  { cli: NEXT, revision: '2026-07-28', select: '--requirements' }
]

const baselineFile = (revision: string): string => path.join(import.meta.dirname, 'conformance', `expected-failures-${revision}.yml`)

/** Baseline entries (`scenario` or `scenario:check-id`) with the comment above each: its reason. */
function baselineReasons (file: string): Map<string, string> {
  const seq = parseDocument(readFileSync(file, 'utf8')).get('server', true)
  const reasons = new Map<string, string>()
  if (!isSeq(seq)) return reasons
  seq.items.forEach((item, index) => {
    const node = item as { value?: unknown, commentBefore?: string | null }
    // The comment above the first item belongs to the list itself.
    const comment = node.commentBefore ?? (index === 0 ? seq.commentBefore : undefined) ?? ''
    reasons.set(String(node.value), comment.split('\n').map(line => line.trim()).join(' ').trim())
  })
  return reasons
}

/** Scenarios a requirement set runs but does not score, with the suite's reason. */
function notScored (run: Run): Map<string, string> {
  const scenarios = new Map<string, string>()
  if (run.select !== '--requirements' || run.cli.requirementsDir === undefined) return scenarios
  const set = parseDocument(readFileSync(path.join(run.cli.requirementsDir, `${run.revision}.yaml`), 'utf8')).toJS() as {
    not_scored?: Array<{ scenario: string, leg: string, reason: string }>
  }
  for (const entry of set.not_scored ?? []) if (entry.leg === 'server') scenarios.set(entry.scenario, entry.reason)
  return scenarios
}

interface Check { id: string, status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO', errorMessage?: string }

/** Each scenario's checks, from the `-o` directory (`server-<scenario>-<timestamp>/checks.json`). */
function scenarioChecks (outputDir: string): Map<string, Check[]> {
  const results = new Map<string, Check[]>()
  for (const entry of readdirSync(outputDir).sort()) {
    const file = path.join(outputDir, entry, 'checks.json')
    if (!existsSync(file)) continue
    const scenario = entry.replace(/^server-/, '').replace(/-\d{4}-\d\d-\d\dT[\d-]+Z$/, '')
    results.set(scenario, JSON.parse(readFileSync(file, 'utf8')) as Check[])
  }
  return results
}

/** One table row per scenario: what happened and, for a baselined failure, why. */
function describe (scenario: string, checks: readonly Check[], reasons: ReadonlyMap<string, string>, unscored: ReadonlyMap<string, string>): string {
  // As the CLI's baseline counts them: a warning is a failure too.
  const failing = checks.filter(check => check.status === 'FAILURE' || check.status === 'WARNING')
  const first = failing[0]
  const why = unscored.get(scenario)
  if (why !== undefined) return `not scored (${why}): ${first === undefined ? 'passed' : `${failing.length} failing check(s), e.g. ${first.errorMessage ?? first.id}`}`
  if (first === undefined) return reasons.has(scenario) ? 'PASSED, but listed as an expected failure (stale entry)' : 'passed'
  const whole = reasons.get(scenario)
  if (whole !== undefined) return `expected failure: ${whole}`
  const parts = failing.map(check => {
    const reason = reasons.get(`${scenario}:${check.id}`)
    return reason === undefined ? `UNEXPECTED ${check.status} ${check.id}: ${check.errorMessage ?? ''}` : `expected failure (${check.id}): ${reason}`
  })
  return [...new Set(parts)].join('; ')
}

interface Outcome { code: number | null, output: string }

/** The end of a CLI's output: its summary and baseline verdict, without colours. */
function verdict (output: string): string {
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '')
  const summary = plain.lastIndexOf('=== SUMMARY ===')
  return summary === -1 ? plain.slice(-4000) : plain.slice(summary)
}

async function runCli (run: Run, url: string, outputDir: string): Promise<Outcome> {
  const args = [run.cli.bin, 'server', '--url', url, run.select, run.revision, '--expected-failures', baselineFile(run.revision), '-o', outputDir]
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.once('error', reject)
    child.once('close', code => resolve({ code, output }))
  })
}

// The suites take a while; never assert on how long.
t.setTimeout(15 * 60_000)

t.test('the conformance suites pass against the real stack, but for the baselined failures', async t => {
  const server = await startFixtureServer()
  t.teardown(server.close)
  const root = t.testdir()

  // The server is stateless, so the runs share it and go at once.
  const outcomes = await Promise.all(RUNS.map(async (run, index) => {
    const outputDir = path.join(root, `run-${index}`)
    return { run, outputDir, ...(await runCli(run, server.url, outputDir)) }
  }))

  const rows: string[][] = []
  for (const { run, outputDir, code, output } of outcomes) {
    const name = `conformance ${run.cli.version}, ${run.select} ${run.revision}`
    t.equal(code, 0, `${name}: exit 0 (no unexpected failure, no stale baseline entry)`, { output: code === 0 ? undefined : verdict(output) })
    const reasons = baselineReasons(baselineFile(run.revision))
    const unscored = notScored(run)
    for (const [scenario, checks] of scenarioChecks(outputDir)) {
      rows.push([scenario, `${run.revision} (${run.cli.version})`, describe(scenario, checks, reasons, unscored)])
    }
  }
  t.ok(rows.length > 0, 'the runs recorded their scenarios')

  // The last column is left unpadded: reasons are long.
  const header = ['scenario', 'version', 'result']
  const widths = [0, 1].map(column => Math.max((header[column] ?? '').length, ...rows.map(row => (row[column] ?? '').length)))
  const line = (cells: readonly string[]): string => cells.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join(' | ').trimEnd()
  t.comment(['', line(header), line(widths.map(width => '-'.repeat(width)).concat('------')), ...rows.map(line)].join('\n'))
})

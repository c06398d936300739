import { readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import ts from 'typescript'
import type { Diagnostics } from 'recheck'

// Every regular expression in src is checked for super-linear backtracking (ReDoS) with
// recheck: a pattern run on caller-given text on the event loop must match in linear time,
// or one request can freeze the whole process (as `;(\s*(--[^\n]*)?)*$` on SQL did).

// `auto` runs the native checker that recheck-linux-x64 (an optional npm dependency) ships, and
// falls back to recheck's pure-JavaScript checker (same algorithm, slower) where it is missing:
// both work offline. RECHECK_BACKEND=pure forces the latter. Read at recheck's first check.
process.env.RECHECK_BACKEND ??= 'auto'
const { check } = createRequire(import.meta.url)('recheck') as typeof import('recheck')

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
/** Per pattern; a pattern that recheck cannot decide in time fails the test too. */
const CHECK_TIMEOUT_MS = 20_000

/**
 * `new RegExp(...)` calls whose pattern is not a literal, so cannot be checked here: each is
 * named by file and the pattern's source text, with why the pattern it builds is safe.
 */
const DYNAMIC_PATTERNS: ReadonlyArray<{ file: string, pattern: string, reason: string }> = [
  {
    file: 'src/auth/api-keys.ts',
    pattern: '`^${prefix}_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$`',
    reason: 'prefix is MCP_API_KEY_PREFIX, which the config schema limits to 2 to 16 lowercase letters or digits; then fixed-width classes, anchored at both ends'
  },
  {
    file: 'src/mcp/surface.ts',
    pattern: '`^${pattern}$`',
    reason: 'built from a URI template this server defines, escaped literal text and one ([^/?#]+) per {variable}; every template here has variables apart (two adjacent ones would be quadratic)'
  },
  {
    file: 'src/commands/roles.ts',
    pattern: '`^${kind}:(.+)$`',
    reason: 'kind is the literal "database" or "dataset"; one anchored .+'
  }
]

/**
 * Flagged patterns in files whose owners have been told, each with the linear replacement to
 * make. They are reported by the test's diagnostics but do not fail it; an entry that no longer
 * matches a pattern in src fails it, so the list shrinks as they are fixed. Add nothing here:
 * fix a new finding instead.
 */
const PENDING_FIXES: ReadonlyArray<{ file: string, source: string, flags: string, fix: string }> = [
]

const isPending = (pattern: { file: string, source: string, flags: string }): boolean =>
  PENDING_FIXES.some(entry => entry.file === pattern.file && entry.source === pattern.source && entry.flags === pattern.flags)

interface FoundPattern {
  file: string
  line: number
  source: string
  flags: string
}

interface DynamicPattern {
  file: string
  line: number
  pattern: string
}

function sourceFiles (): string[] {
  const files: string[] = []
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(full)
      else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(full)
    }
  }
  walk(path.join(ROOT, 'src'))
  const browser = path.join(ROOT, 'src', 'pages', 'browser')
  for (const name of readdirSync(browser)) if (name.endsWith('.js')) files.push(path.join(browser, name))
  return files.sort()
}

/** A string the compiler can read without running anything: '…', "…" or `…` with no ${}. */
function literalText (node: ts.Expression | undefined): string | undefined {
  if (node === undefined) return undefined
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text
  return undefined
}

function isRegExpConstructor (node: ts.Node): node is ts.NewExpression | ts.CallExpression {
  if (!ts.isNewExpression(node) && !ts.isCallExpression(node)) return false
  const callee = node.expression
  if (ts.isIdentifier(callee)) return callee.text === 'RegExp'
  return ts.isPropertyAccessExpression(callee) && callee.name.text === 'RegExp' && ts.isIdentifier(callee.expression) && callee.expression.text === 'globalThis'
}

/** Regular-expression literals and RegExp constructions in one file. */
function patternsIn (file: string, text: string): { literals: FoundPattern[], dynamic: DynamicPattern[] } {
  const kind = file.endsWith('.js') ? ts.ScriptKind.JS : ts.ScriptKind.TS
  const sourceFile = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind)
  const relative = path.relative(ROOT, file).split(path.sep).join('/')
  const lineOf = (node: ts.Node): number => sourceFile.getLineAndCharacterOfPosition(node.getStart(sourceFile)).line + 1
  const literals: FoundPattern[] = []
  const dynamic: DynamicPattern[] = []
  const visit = (node: ts.Node): void => {
    if (ts.isRegularExpressionLiteral(node)) {
      const end = node.text.lastIndexOf('/')
      literals.push({ file: relative, line: lineOf(node), source: node.text.slice(1, end), flags: node.text.slice(end + 1) })
    } else if (isRegExpConstructor(node)) {
      const [patternArgument, flagsArgument] = node.arguments ?? []
      const source = literalText(patternArgument)
      const flags = flagsArgument === undefined ? '' : literalText(flagsArgument)
      if (source !== undefined && flags !== undefined) literals.push({ file: relative, line: lineOf(node), source, flags })
      else dynamic.push({ file: relative, line: lineOf(node), pattern: node.arguments?.map(argument => argument.getText(sourceFile)).join(', ') ?? '' })
    }
    ts.forEachChild(node, visit)
  }
  visit(sourceFile)
  return { literals, dynamic }
}

function describe (pattern: FoundPattern, diagnostics: Diagnostics): string {
  const where = `${pattern.file}:${pattern.line} /${pattern.source}/${pattern.flags}`
  if (diagnostics.status === 'vulnerable') return `${where} is vulnerable (${diagnostics.complexity.summary}); attack: ${diagnostics.attack.pattern}`
  if (diagnostics.status === 'unknown') return `${where} could not be checked (${diagnostics.error.kind}${'message' in diagnostics.error ? `: ${diagnostics.error.message}` : ''})`
  return `${where} is safe`
}

const files = sourceFiles()
const scanned = files.map(file => patternsIn(file, readFileSync(file, 'utf8')))
const literals = scanned.flatMap(found => found.literals)
const dynamic = scanned.flatMap(found => found.dynamic)

t.test('the scan finds the regular expressions in src', async t => {
  t.ok(literals.length > 50, `found ${literals.length} regular expressions`)
  t.ok(files.some(file => file.endsWith(path.join('pages', 'browser', 'pages.js'))), 'browser scripts are scanned')
  const sample = patternsIn(path.join(ROOT, 'src', 'sample.ts'), [
    "const a = /x+y/gi",
    "const b = new RegExp('^a|b$', 'u')",
    'const c = RegExp(`z*`)',
    'const d = new RegExp(`^${name}$`)',
    "const e = text.replace(/;(\\s*(--[^\\n]*)?)*$/, '')"
  ].join('\n'))
  t.same(sample.literals.map(({ line, source, flags }) => ({ line, source, flags })), [
    { line: 1, source: 'x+y', flags: 'gi' },
    { line: 2, source: '^a|b$', flags: 'u' },
    { line: 3, source: 'z*', flags: '' },
    { line: 5, source: String.raw`;(\s*(--[^\n]*)?)*$`, flags: '' }
  ])
  t.same(sample.dynamic, [{ file: 'src/sample.ts', line: 4, pattern: '`^${name}$`' }])
})

t.test('the check catches a backtracking pattern (the old SQL terminator strip)', async t => {
  const old = { file: 'src/tools/dataset-build.ts', line: 0, source: String.raw`;(\s*(--[^\n]*)?)*$`, flags: '' }
  const diagnostics = await check(old.source, old.flags, { timeout: CHECK_TIMEOUT_MS })
  t.equal(diagnostics.status, 'vulnerable', describe(old, diagnostics))
  t.match(describe(old, diagnostics), /^src\/tools\/dataset-build\.ts:0 .* is vulnerable \(.*\); attack: /)
})

t.test('no regular expression in src backtracks super-linearly', async t => {
  const failures: string[] = []
  const seen = new Map<string, Diagnostics>()
  for (const pattern of literals) {
    const key = `${pattern.flags}/${pattern.source}`
    let diagnostics = seen.get(key)
    if (diagnostics === undefined) {
      diagnostics = await check(pattern.source, pattern.flags, { timeout: CHECK_TIMEOUT_MS })
      seen.set(key, diagnostics)
    }
    if (diagnostics.status === 'safe') continue
    if (isPending(pattern)) t.comment(`pending fix: ${describe(pattern, diagnostics)}`)
    else failures.push(describe(pattern, diagnostics))
  }
  t.same(failures, [], `${literals.length} patterns (${seen.size} distinct) checked`)
  const fixed = PENDING_FIXES.filter(entry => !literals.some(pattern => pattern.file === entry.file && pattern.source === entry.source && pattern.flags === entry.flags))
  t.same(fixed, [], 'pending fixes that are done: remove them from PENDING_FIXES')
})

t.test('every RegExp built from a non-literal pattern is allow-listed with a reason', async t => {
  const unlisted = dynamic.filter(found => !DYNAMIC_PATTERNS.some(entry => entry.file === found.file && entry.pattern === found.pattern))
  t.same(unlisted.map(found => `${found.file}:${found.line} new RegExp(${found.pattern})`), [], 'make the pattern a literal, or add it to DYNAMIC_PATTERNS with why it is safe')
  const stale = DYNAMIC_PATTERNS.filter(entry => !dynamic.some(found => found.file === entry.file && found.pattern === entry.pattern))
  t.same(stale, [], 'allow-list entries that match nothing any more')
  for (const entry of DYNAMIC_PATTERNS) t.ok(entry.reason.length > 20, `${entry.file}: a reason is given`)
})

import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

/**
 * The scripts, styles and fonts of the service's pages, read once at start-up from the
 * installed packages and src/pages/browser/, and served by the service itself under a
 * content-hashed path (no CDN: pages work offline and under a `script-src 'self'` CSP).
 */

/** The browser code of the pages and of the MCP App chart viewer. */
const BROWSER_DIR = fileURLToPath(new URL('./browser/', import.meta.url))
const FONTS_DIR = fileURLToPath(new URL('../../assets/fonts/', import.meta.url))

/** A file that start-up cannot do without; the message says which and why. */
export function readAssetFile (file: string, what: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new Error(`page asset missing: ${what} (${file}): ${(err as Error).message}; reinstall the dependencies (npm ci)`, { cause: err })
  }
}

/** A file shipped by an installed package, next to the module its name resolves to. */
export function packageFile (specifier: string, name: string): string {
  let entry: string
  try {
    entry = fileURLToPath(import.meta.resolve(specifier))
  } catch (err) {
    throw new Error(`page asset missing: the package ${specifier} is not installed; reinstall the dependencies (npm ci)`, { cause: err })
  }
  return path.join(path.dirname(entry), name)
}

function packageScript (specifier: string, name: string): string {
  return withoutSourceMap(readAssetFile(packageFile(specifier, name), `${specifier}/${name}`).toString('utf8'))
}

/** The maps are not served, so browsers must not ask for them. */
function withoutSourceMap (source: string): string {
  return source.replace(/^\/\/# sourceMappingURL=.*$/gm, '')
}

/** A file of src/pages/browser/. */
export function browserFile (name: string): string {
  return readAssetFile(path.join(BROWSER_DIR, name), `src/pages/browser/${name}`).toString('utf8')
}

/** `a as b, c` → [['b', 'a'], ['c', 'c']]: exported name, local name. */
function exportedNames (clause: string): Array<[string, string]> {
  return clause.split(',').map(part => part.trim()).filter(part => part !== '').map(part => {
    const words = part.split(/\s/).filter(word => word !== '')
    const local = words[0] ?? ''
    return [words.length === 3 && words[1] === 'as' ? words[2] ?? local : local, local]
  })
}

/**
 * An ES module's final `export { … }` turned into an assignment to a global, for builds that
 * only ship as modules. Fails start-up when the build no longer has that shape.
 */
export function exportsToGlobal (source: string, globalName: string, what: string): string {
  // Anchored at the last `export` (sticky), so the scan is linear in the source's length.
  const tail = /export\s*\{([^}]*)\}\s*(?:;\s*)?$/y
  tail.lastIndex = source.lastIndexOf('export')
  const match = tail.lastIndex === -1 ? null : tail.exec(source)
  if (match === null) throw new Error(`page asset ${what}: expected the build to end with export { … }`)
  const entries = exportedNames(match[1] ?? '').map(([exported, local]) => `${JSON.stringify(exported)}: ${local}`)
  return `${source.slice(0, match.index)}\nglobalThis.${globalName} = { ${entries.join(', ')} };\n`
}

/**
 * vega-interpreter ships as an ES module importing vega-util. Pages load classic scripts (a
 * module with an import map needs an inline script, which the CSP forbids), so the import is
 * read from the `vega` global (vega.min.js exports vega-util's functions) and the export
 * becomes `window.vegaInterpreter`.
 */
export function interpreterScript (): string {
  const source = packageScript('vega-interpreter', 'vega-interpreter.js')
  const importLine = /^import\s*\{([^}]*)\}\s*from\s*['"]vega-util['"];?[ \t]*$/
  const lines = source.split('\n')
  const index = lines.findIndex(line => line.startsWith('import') && importLine.test(line))
  const match = index === -1 ? null : importLine.exec(lines[index] ?? '')
  if (match === null) throw new Error('page asset vega-interpreter: expected one import from vega-util')
  lines.splice(index, 1, '')
  const body = exportsToGlobal(lines.join('\n'), 'vegaInterpreter', 'vega-interpreter')
  if (/^[ \t]*(import|export)\b/m.test(body)) throw new Error('page asset vega-interpreter: unexpected import or export statement')
  return `(function () {\n'use strict';\nconst { ${(match[1] ?? '').trim()} } = vega;\n${body}\n})();\n`
}

/** The scripts that draw a Vega-Lite spec in a browser, in load order. */
export function vegaScripts (): Array<{ name: string, source: string }> {
  return [
    { name: 'vega.min.js', source: packageScript('vega', 'vega.min.js') },
    { name: 'vega-lite.min.js', source: packageScript('vega-lite', 'vega-lite.min.js') },
    { name: 'vega-interpreter.js', source: interpreterScript() },
    { name: 'vega-embed.min.js', source: packageScript('vega-embed', 'vega-embed.min.js') }
  ]
}

export interface PageAsset {
  body: Buffer
  contentType: string
}

const JS = 'text/javascript; charset=utf-8'
const CSS = 'text/css; charset=utf-8'

/** The assets by name, and the path they are served under. */
export class PageAssets {
  /** Hash of every asset: a new build gets new URLs, so they can be cached forever. */
  readonly version: string
  private readonly assets: ReadonlyMap<string, PageAsset>

  constructor (assets: ReadonlyMap<string, PageAsset>) {
    const hash = createHash('sha256')
    for (const [name, asset] of [...assets].sort(([a], [b]) => a.localeCompare(b))) hash.update(name).update('\0').update(asset.body)
    this.version = hash.digest('hex').slice(0, 16)
    this.assets = assets
  }

  /** Read every asset; throws (failing start-up) when one is missing. */
  static load (): PageAssets {
    const assets = new Map<string, PageAsset>()
    const text = (source: string, contentType: string): PageAsset => ({ body: Buffer.from(source, 'utf8'), contentType })
    for (const script of vegaScripts()) assets.set(script.name, text(script.source, JS))
    // The semicolon keeps the second file's opening parenthesis from calling the first one's result.
    assets.set('pages.js', text(`${browserFile('draw-chart.js')}\n;\n${browserFile('pages.js')}`, JS))
    assets.set('pages.css', text(browserFile('charts.css') + '\n' + browserFile('pages.css'), CSS))
    for (const font of ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf']) {
      assets.set(font, { body: readAssetFile(path.join(FONTS_DIR, font), `assets/fonts/${font}`), contentType: 'font/ttf' })
    }
    return new PageAssets(assets)
  }

  /** The path of an asset, e.g. /assets/3f2a…/vega.min.js. */
  url (name: string): string {
    if (!this.assets.has(name)) throw new Error(`no page asset named ${name}`)
    return `/assets/${this.version}/${name}`
  }

  get (name: string): PageAsset | undefined {
    return this.assets.get(name)
  }
}

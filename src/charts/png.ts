import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { ResvgRenderOptions } from '@resvg/resvg-js'
import type { Loader, LoggerInterface, Spec as VegaSpec } from 'vega'
import type { TopLevelSpec } from 'vega-lite'
import { CHART_FONT } from './vega-lite.ts'

/**
 * Vega-Lite spec → SVG → PNG on the server: vega-lite compiles, a headless Vega view
 * (renderer "none") draws the SVG, resvg rasterises it with the bundled DejaVu Sans and no
 * system fonts, so a chart looks the same on every node. vega and vega-lite load on the first
 * render, not at start-up.
 */

export const MIN_SIZE = 100
export const MAX_SIZE = 4000

export interface SvgOptions {
  /** Pixels, 100..4000; with height, the SVG is exactly this size and the chart fills it. */
  width?: number
  height?: number
  /** Vega-Lite and Vega warnings (a field a spec names but no row has, …); ignored by default. */
  onWarning?: (message: string) => void
}

export interface PngOptions extends SvgOptions {
  width: number
  height: number
}

const FONT_FILES = [
  fileURLToPath(new URL('../../assets/fonts/DejaVuSans.ttf', import.meta.url)),
  fileURLToPath(new URL('../../assets/fonts/DejaVuSans-Bold.ttf', import.meta.url))
]

// Only the bundled fonts: loading system fonts is slower and would make output vary by host.
const RESVG_OPTIONS: ResvgRenderOptions = {
  font: { fontFiles: FONT_FILES, loadSystemFonts: false, defaultFontFamily: CHART_FONT },
  background: 'white',
  logLevel: 'off'
}

type Vega = typeof import('vega')
type VegaLite = typeof import('vega-lite')
type Resvg = typeof import('@resvg/resvg-js')

interface Engines {
  vega: Vega
  vegaLite: VegaLite
  resvg: Resvg
}

let engines: Promise<Engines> | undefined

/** vega and vega-lite take ~0.3 s to import; the first render pays it, start-up does not. */
function loadEngines (): Promise<Engines> {
  engines ??= Promise.all([import('vega'), import('vega-lite'), import('@resvg/resvg-js')]).then(([vega, vegaLite, resvg]) => {
    measureTextWithDejaVu(vega)
    return { vega, vegaLite, resvg }
  })
  return engines
}

// ---------------------------------------------------------------------------------------------
// Text metrics. Without a canvas, Vega guesses every character at 0.8 em, which makes room for
// labels ~35% wider than DejaVu Sans draws them and cuts long labels early. Vega lets a
// renderer supply the widths (vl-convert does the same); these come from the fonts' own tables.
// ---------------------------------------------------------------------------------------------

/** Advance width in em of each BMP character, from a TrueType font's cmap (format 4) and hmtx. */
function advanceWidths (file: string): Float32Array {
  const font = readFileSync(file)
  const tables = new Map<string, number>()
  for (let index = 0, count = font.readUInt16BE(4); index < count; index++) {
    const record = 12 + index * 16
    tables.set(font.toString('latin1', record, record + 4), font.readUInt32BE(record + 8))
  }
  const table = (tag: string): number => {
    const offset = tables.get(tag)
    if (offset === undefined) throw new Error(`${file}: no ${tag} table`)
    return offset
  }
  const unitsPerEm = font.readUInt16BE(table('head') + 18)
  const metrics = font.readUInt16BE(table('hhea') + 34)
  const hmtx = table('hmtx')
  const advanceOf = (glyph: number): number => font.readUInt16BE(hmtx + 4 * Math.min(glyph, metrics - 1)) / unitsPerEm

  const cmap = table('cmap')
  let subtable: number | undefined
  for (let index = 0, count = font.readUInt16BE(cmap + 2); index < count; index++) {
    const record = cmap + 4 + index * 8
    const platform = font.readUInt16BE(record)
    const encoding = font.readUInt16BE(record + 2)
    const offset = cmap + font.readUInt32BE(record + 4)
    if (((platform === 3 && encoding === 1) || platform === 0) && font.readUInt16BE(offset) === 4) subtable = offset
  }
  if (subtable === undefined) throw new Error(`${file}: no Unicode BMP cmap`)
  const widths = new Float32Array(65_536).fill(advanceOf(0))
  const segments = font.readUInt16BE(subtable + 6) / 2
  const ends = subtable + 14
  const starts = ends + segments * 2 + 2
  const deltas = starts + segments * 2
  const rangeOffsets = deltas + segments * 2
  for (let segment = 0; segment < segments; segment++) {
    const start = font.readUInt16BE(starts + segment * 2)
    const end = font.readUInt16BE(ends + segment * 2)
    const delta = font.readUInt16BE(deltas + segment * 2)
    const rangeOffsetAt = rangeOffsets + segment * 2
    const rangeOffset = font.readUInt16BE(rangeOffsetAt)
    for (let code = start; code <= end && code < 0xFFFF; code++) {
      let glyph = rangeOffset === 0 ? code : font.readUInt16BE(rangeOffsetAt + rangeOffset + (code - start) * 2)
      if (rangeOffset !== 0 && glyph === 0) continue
      glyph = (glyph + delta) & 0xFFFF
      widths[code] = advanceOf(glyph)
    }
  }
  return widths
}

interface TextItem {
  fontSize?: number | string | null
  fontWeight?: number | string | null
  limit?: number | null
}

function measureTextWithDejaVu (vega: Vega): void {
  const regular = advanceWidths(FONT_FILES[0] ?? '')
  const bold = advanceWidths(FONT_FILES[1] ?? '')
  const average = 0.6
  // Vega's own truncation (to `limit`) calls back into this with slices of the text; returning
  // at most the limit gives the same cuts and bounds that match the truncated label.
  const width = (item: TextItem, text: unknown): number => {
    const size = item.fontSize === undefined || item.fontSize === null ? 11 : Number(item.fontSize) || 0
    const line = text === undefined || text === null ? '' : String(text).trim()
    const weight = item.fontWeight
    const widths = weight === 'bold' || weight === 'bolder' || Number(weight) >= 600 ? bold : regular
    let em = 0
    for (let index = 0; index < line.length; index++) em += widths[line.charCodeAt(index)] ?? average
    const measured = em * size
    return typeof item.limit === 'number' && item.limit > 0 ? Math.min(measured, item.limit) : measured
  }
  ;(vega as unknown as { textMetrics: { width: typeof width } }).textMetrics.width = width
}

// ---------------------------------------------------------------------------------------------
// Rendering, step by step (the bench times each step)
// ---------------------------------------------------------------------------------------------

/** Throws unless width and height are whole pixels in 100..4000. */
export function checkSize (width: number, height: number): void {
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value < MIN_SIZE || value > MAX_SIZE) {
      throw new RangeError(`Chart ${name} must be a whole number of pixels from ${MIN_SIZE} to ${MAX_SIZE}; got ${String(value)}`)
    }
  }
}

/** The spec resized to fill width × height; compositions (concat, facet) keep their sizes. */
function sized (spec: TopLevelSpec, width: number | undefined, height: number | undefined): TopLevelSpec {
  if (width === undefined || height === undefined || !('mark' in spec || 'layer' in spec)) return spec
  return { ...spec, width, height, autosize: { type: 'fit', contains: 'padding' } } as TopLevelSpec
}

function warningLogger (vega: Vega, onWarning: ((message: string) => void) | undefined): LoggerInterface {
  const report = (...args: readonly unknown[]): void => onWarning?.(args.map(String).join(' '))
  const logger: LoggerInterface = {
    level (level?: number) {
      return level === undefined ? vega.Warn : logger
    },
    error: report,
    warn: report,
    info: () => logger,
    debug: () => logger
  } as LoggerInterface
  return logger
}

const refuseLoading = (): Promise<never> => Promise.reject(new Error('Charts render inline data only: loading URLs and files is disabled'))
const NO_LOADER: Loader = { load: refuseLoading, sanitize: refuseLoading, http: refuseLoading, file: refuseLoading }

/** Step 1: Vega-Lite → Vega. */
export async function compileSpec (spec: TopLevelSpec, options: SvgOptions = {}): Promise<VegaSpec> {
  if (options.width !== undefined || options.height !== undefined) checkSize(options.width ?? NaN, options.height ?? NaN)
  const { vega, vegaLite } = await loadEngines()
  return vegaLite.compile(sized(spec, options.width, options.height), { logger: warningLogger(vega, options.onWarning) }).spec
}

/** Step 2: Vega → SVG, in a headless view that can load nothing (the data is inline). */
export async function vegaToSvg (vegaSpec: VegaSpec, options: SvgOptions = {}): Promise<string> {
  const { vega } = await loadEngines()
  const logger = warningLogger(vega, options.onWarning)
  const view = new vega.View(vega.parse(vegaSpec), { renderer: 'none', loader: NO_LOADER, logger, logLevel: vega.Warn })
  try {
    const svg = await view.toSVG()
    return options.width === undefined || options.height === undefined ? svg : fitSvg(svg, options.width, options.height)
  } finally {
    view.finalize()
  }
}

/**
 * The SVG as exactly width × height: autosize "fit" usually lands there, but a legend or long
 * labels can push Vega past it. The drawing keeps its own viewBox and is scaled to fit,
 * centred on the white background, rather than cropped.
 */
function fitSvg (svg: string, width: number, height: number): string {
  return svg.replace(/^<svg\b[^>]*>/, root => {
    const viewBox = /\sviewBox="([^"]*)"/.exec(root)?.[1] ?? `0 0 ${/\swidth="([\d.]+)"/.exec(root)?.[1] ?? width} ${/\sheight="([\d.]+)"/.exec(root)?.[1] ?? height}`
    return root
      .replace(/\s(?:width|height|viewBox|preserveAspectRatio)="[^"]*"/g, '')
      .replace(/^<svg/, `<svg width="${width}" height="${height}" viewBox="${viewBox}" preserveAspectRatio="xMidYMid meet"`)
  })
}

/**
 * Vega writes data text into the SVG as it is; characters XML 1.0 forbids (NUL and the other C0
 * controls but tab, LF, CR; U+FFFE, U+FFFF) make resvg refuse the whole document.
 */
function xmlSafe (svg: string): string {
  return svg.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '\uFFFD')
}

/** Step 3: SVG → PNG of exactly width × height, rasterised off the event loop. */
export async function svgToPng (svg: string, width: number, height: number): Promise<Buffer> {
  checkSize(width, height)
  const { resvg } = await loadEngines()
  const image = await resvg.renderAsync(fitSvg(xmlSafe(svg), width, height), { ...RESVG_OPTIONS, fitTo: { mode: 'width', value: width } })
  if (image.width !== width || image.height !== height) {
    throw new Error(`PNG came out ${image.width}×${image.height}, not ${width}×${height}`)
  }
  return image.asPng()
}

/** A Vega-Lite spec as SVG; given width and height, exactly that size with the chart filling it. */
export async function renderSvg (spec: TopLevelSpec, options: SvgOptions = {}): Promise<string> {
  return vegaToSvg(await compileSpec(spec, options), options)
}

/** A Vega-Lite spec as a PNG of exactly width × height pixels (100..4000 each). */
export async function renderPng (spec: TopLevelSpec, options: PngOptions): Promise<Buffer> {
  checkSize(options.width, options.height)
  return svgToPng(await renderSvg(spec, options), options.width, options.height)
}

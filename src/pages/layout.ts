import type { PageAssets } from './assets.ts'
import { html, jsonElement } from './html.ts'
import type { SafeHtml } from './html.ts'

/** A page to send: its status, title and main content. */
export interface Page {
  status: number
  title: string
  body: SafeHtml
  /** The page draws charts, so it loads the chart scripts. */
  charts: boolean
  /**
   * Referrer policy; default no-referrer. A page with a form posting to us says same-origin, so
   * the POST carries our Origin (no-referrer makes it `null`, which the Origin check refuses)
   * while other sites still see nothing.
   */
  referrer?: 'no-referrer' | 'same-origin'
}

/** The scripts that draw charts, in the order they depend on each other. */
const CHART_SCRIPTS = ['vega.min.js', 'vega-lite.min.js', 'vega-interpreter.js', 'vega-embed.min.js', 'pages.js']

/** The whole document: scripts and styles come from /assets only (the CSP allows nothing else). */
export function renderDocument (page: Page, assets: PageAssets): string {
  const scripts = page.charts ? CHART_SCRIPTS.map(name => html`<script src="${assets.url(name)}" defer></script>`) : []
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<meta name="referrer" content="${page.referrer ?? 'no-referrer'}">
<link rel="icon" href="data:,">
<title>${page.title} · analytics-mcp</title>
<link rel="stylesheet" href="${assets.url('pages.css')}">
${scripts}
</head>
<body>
<header class="site-header">analytics-mcp</header>
${page.body}
</body>
</html>
`.markup
}

export function problem (status: number, title: string, ...lines: SafeHtml[]): Page {
  return { status, title, charts: false, body: html`<main><section class="problem"><h1>${title}</h1>${lines}</section></main>` }
}

/** Malformed, tampered with, or made for a user who is gone: one answer, so nothing is learnt about which. */
export function invalidLinkPage (): Page {
  return problem(403, 'This link is not valid',
    html`<p>The link is incomplete or was changed after it was made.</p>`,
    html`<p>Ask the assistant for a new link.</p>`)
}

export function expiredLinkPage (expiredAt: number | undefined): Page {
  const when = expiredAt === undefined ? undefined : formatTime(expiredAt)
  return problem(410, 'This link has expired',
    html`<p>${when === undefined ? 'This link is no longer valid.' : `This link stopped working on ${when}.`}</p>`,
    html`<p>Links to charts and dashboards last a limited time. Ask the assistant for a new link.</p>`)
}

/** Missing and hidden look the same, so a link never confirms that something exists. */
export function notFoundPage (): Page {
  return problem(404, 'Not found or not shared with you',
    html`<p>What this link points to does not exist any more, or the person it was made for may not see it now.</p>`)
}

/** Over the link user's request rate (MCP_RATE_LIMIT_CONFIG), which pages share with /mcp. */
export function tooManyRequestsPage (retryAfterSeconds: number): Page {
  return problem(429, 'Too many requests',
    html`<p>This link's user has made too many requests in the last minute. Try again in ${String(retryAfterSeconds)} seconds.</p>`)
}

export function failurePage (): Page {
  return problem(500, 'Something went wrong',
    html`<p>The page could not be shown. Try again in a moment; if it keeps failing, tell the service's administrator.</p>`)
}

/** Seconds since the epoch as "2026-05-04 13:07 UTC". */
export function formatTime (seconds: number): string {
  return `${new Date(seconds * 1000).toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

/** Who the page was opened for, and until when the link works. */
export function linkFooter (username: string, expiresAt: number): SafeHtml {
  return html`<footer>Shared through a link made for ${username}; it shows what ${username} may see now, and works until ${formatTime(expiresAt)}.</footer>`
}

/** A chart container and its spec; the page script draws it. */
export function chartElement (id: string, label: string, spec: unknown): SafeHtml {
  return html`<div class="chart" id="${id}" data-spec="${id}-spec" role="img" aria-label="${label}"></div>${jsonElement(`${id}-spec`, spec)}`
}

export interface TableColumn {
  label: string
  numeric: boolean
}

/** A table of already formatted cells; null cells read "NULL". */
export function dataTable (columns: readonly TableColumn[], rows: ReadonlyArray<ReadonlyArray<string | null>>): SafeHtml {
  const head = columns.map(column => html`<th scope="col"${column.numeric ? html` class="num"` : ''}>${column.label}</th>`)
  const body = rows.map(row => html`<tr>${columns.map((column, index) => {
    const cell = row[index] ?? null
    if (cell === null) return html`<td class="null">NULL</td>`
    return html`<td${column.numeric ? html` class="num"` : ''}>${cell}</td>`
  })}</tr>`)
  return html`<div class="table-wrap"><table class="data"><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`
}

export function plural (count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`
}

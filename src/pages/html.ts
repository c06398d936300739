/**
 * HTML for the service's pages, safe by construction: `html` escapes every value it is given
 * unless the value is itself `SafeHtml` (markup built by `html`). Chart names, descriptions and
 * data come from users, so nothing reaches a page as markup without passing through here.
 */

/** Markup that is safe to insert: built by `html`, or `raw` markup we wrote. */
export class SafeHtml {
  readonly markup: string

  constructor (markup: string) {
    this.markup = markup
  }
}

/** What may be interpolated into `html`: text (escaped), markup, lists of either; nothing for null, undefined and false. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[]

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

/** Text as HTML text or as a quoted attribute value. */
export function escapeHtml (text: string): string {
  return text.replace(/[&<>"']/g, char => ENTITIES[char] ?? char)
}

function render (value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.markup
  if (Array.isArray(value)) return value.map(render).join('')
  if (value === null || value === undefined || value === false) return ''
  return escapeHtml(String(value))
}

/** A template whose interpolated values are escaped (markup passes as it is). */
export function html (strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let markup = strings[0] ?? ''
  values.forEach((value, index) => {
    markup += render(value) + (strings[index + 1] ?? '')
  })
  return new SafeHtml(markup)
}

/**
 * JSON for a `<script type="application/json">` element: `<` becomes \u003c so no value can
 * close the element or open a comment, and U+2028/U+2029 are escaped for older parsers.
 */
export function scriptJson (value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029')
}

/** Data for the page script, as an inert JSON element (never an executable inline script). */
export function jsonElement (id: string, value: unknown): SafeHtml {
  return new SafeHtml(`<script type="application/json" id="${escapeHtml(id)}">${scriptJson(value)}</script>`)
}

import { existsSync, mkdirSync } from 'node:fs'
import path from 'node:path'
import { chromium } from 'playwright-core'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import type { Test } from 'tap'

// A person's browser in the OAuth flows: Debian's Chromium driven by playwright-core, signing
// in on the identity provider's login page and deciding on our consent page.

/** The browser-side globals the in-page listener below uses: the project compiles without the DOM lib. */
declare const document: {
  addEventListener: (type: 'securitypolicyviolation', listener: (event: { violatedDirective: string, blockedURI: string }) => void) => void
}

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SCREENSHOTS = path.resolve(import.meta.dirname, '..', '..', '.artifacts', 'screenshots')
/** Each browser step may take this long on a loaded 2-core machine. */
const STEP_TIMEOUT_MS = 60_000

/**
 * Skip (on a developer's machine) or fail (in CI) a whole test file when Chromium is missing.
 * Returns whether the browser tests can run.
 */
export function chromiumAvailable (t: Test): boolean {
  if (existsSync(CHROMIUM)) return true
  const install = 'install Debian\'s chromium (sudo apt-get install chromium, or `make test-services` as root) or set CHROMIUM_PATH'
  if (process.env.CI !== undefined && process.env.CI !== '') {
    t.fail(`the OAuth browser tests need Chromium at ${CHROMIUM}: ${install}`)
  } else {
    t.plan(0, `skipped: no Chromium at ${CHROMIUM}; ${install}`)
  }
  return false
}

/** Chromium, closed when the test ends. */
export async function launchChromium (t: Test): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  t.teardown(() => browser.close())
  return browser
}

/** A console error, page error or CSP violation, with the page it happened on. */
export interface PageProblem {
  url: string
  text: string
}

/** One person's browser window, from the client's authorization URL to the client's redirect URI. */
export interface AuthorizationWindow {
  context: BrowserContext
  page: Page
  /** Problems seen on any page in this window (filter by origin to judge one site). */
  problems: PageProblem[]
  /** The URL the browser was finally sent to: the client's redirect URI with code or error. */
  redirected: Promise<URL>
  close: () => Promise<void>
}

export interface AuthorizationWindowOptions {
  /**
   * Let the browser really load the redirect URI (a client such as mcp-remote listens there).
   * Default: answer it in the browser with a small page, for clients where nothing listens.
   */
  passThrough?: boolean
  /** The redirect URI to watch for, when the authorization URL does not name it. */
  redirectUri?: string
}

/** The redirect URI without its query: what every answer to the client starts with. */
function redirectBase (redirectUri: string): string {
  const url = new URL(redirectUri)
  return `${url.origin}${url.pathname}`
}

/**
 * Opens a fresh browser window (own cookies) on `authorizationUrl`, watching for the
 * navigation to the client's redirect URI and recording console errors and CSP violations.
 */
export async function openAuthorization (browser: Browser, authorizationUrl: string | URL, options: AuthorizationWindowOptions = {}): Promise<AuthorizationWindow> {
  const redirectUri = options.redirectUri ?? new URL(authorizationUrl).searchParams.get('redirect_uri')
  if (redirectUri === null) throw new Error(`the authorization URL names no redirect_uri: ${String(authorizationUrl)}`)
  const base = redirectBase(redirectUri)
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  page.setDefaultTimeout(STEP_TIMEOUT_MS)
  page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS)
  const problems: PageProblem[] = []
  page.on('console', message => {
    if (message.type() === 'error' || /Content Security Policy/i.test(message.text())) problems.push({ url: page.url(), text: `console: ${message.text()}` })
  })
  page.on('pageerror', error => problems.push({ url: page.url(), text: `page error: ${error.message}` }))
  // Reported as events too; init scripts run whatever the page's CSP says.
  await page.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', event => {
      console.error(`Content Security Policy violation: ${event.violatedDirective} ${event.blockedURI}`)
    })
  })
  const redirected = new Promise<URL>(resolve => {
    page.on('request', request => {
      if (request.isNavigationRequest() && request.url().startsWith(base)) resolve(new URL(request.url()))
    })
  })
  if (options.passThrough !== true) {
    await context.route(url => url.href.startsWith(base), async route => {
      await route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: '<!doctype html><title>Client</title><p>Back at the application.</p>' })
    })
  }
  await page.goto(String(authorizationUrl))
  return { context, page, problems, redirected, close: async () => { await context.close() } }
}

/** Signs in on the identity provider's login page, then waits for the page it sends the browser to. */
export async function signInAtIdp (page: Page, username: string, password: string): Promise<void> {
  await page.locator('#username').waitFor()
  await page.fill('#username', username)
  await page.fill('#password', password)
  await Promise.all([page.waitForEvent('framenavigated'), page.click('#sign-in')])
  await page.waitForLoadState('load')
}

/** Cancels the sign-in on the identity provider's login page. */
export async function cancelAtIdp (page: Page): Promise<void> {
  await page.locator('#cancel').waitFor()
  await Promise.all([page.waitForEvent('framenavigated'), page.click('#cancel')])
}

/**
 * Decides on our consent page: first a full-page screenshot
 * (.artifacts/screenshots/oauth-consent-<name>.png), then a click on Allow or Deny.
 */
export async function consent (page: Page, decision: 'allow' | 'deny', screenshotName?: string): Promise<void> {
  const form = page.locator('form[action$="/oauth/consent"]')
  await form.waitFor()
  if (screenshotName !== undefined) {
    mkdirSync(SCREENSHOTS, { recursive: true })
    await page.screenshot({ path: path.join(SCREENSHOTS, `oauth-consent-${screenshotName}.png`), fullPage: true })
  }
  await form.getByRole('button', { name: decision === 'allow' ? 'Allow' : 'Deny', exact: true }).click()
}

/** Saves a full-page screenshot of whatever the window shows (an error page, say). */
export async function screenshot (page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true })
  const file = path.join(SCREENSHOTS, `${name}.png`)
  await page.screenshot({ path: file, fullPage: true })
  return file
}

export interface FollowAuthorizationOptions extends AuthorizationWindowOptions {
  username: string
  password: string
  decision: 'allow' | 'deny'
  /** Name of the consent page's screenshot (oauth-consent-<name>.png). */
  screenshotName?: string
}

export interface AuthorizationOutcome {
  /** Where the browser was sent at the end: the client's redirect URI with code or error. */
  url: URL
  /** The consent page's text, as the person read it. */
  consentText: string
  /** Console errors and CSP violations on pages of `origin` (set from the authorization URL). */
  problems: PageProblem[]
}

/** The redirect to the client, or a failure naming the page the browser got stuck on. */
async function redirectedOrStuck (window: AuthorizationWindow): Promise<URL> {
  let timer: NodeJS.Timeout | undefined
  const stuck = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => {
      void window.page.innerText('body').catch(() => '').then(text => {
        reject(new Error(`the browser was not sent back to the client within ${STEP_TIMEOUT_MS} ms; it shows ${window.page.url()}: ${text.slice(0, 500)}`))
      })
    }, STEP_TIMEOUT_MS)
  })
  try {
    return await Promise.race([window.redirected, stuck])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * A person's whole authorization: our server's authorize URL → the provider's login page →
 * our consent page → Allow or Deny → the client's redirect URI, which it resolves with.
 */
export async function followAuthorization (browser: Browser, authorizationUrl: string | URL, options: FollowAuthorizationOptions): Promise<AuthorizationOutcome> {
  const window = await openAuthorization(browser, authorizationUrl, options)
  try {
    await signInAtIdp(window.page, options.username, options.password)
    await window.page.locator('form[action$="/oauth/consent"]').waitFor()
    const consentText = await window.page.locator('main').innerText()
    await consent(window.page, options.decision, options.screenshotName)
    const url = await redirectedOrStuck(window)
    // A listening client must get the request before the window closes.
    if (options.passThrough === true) await window.page.waitForURL(loaded => loaded.href.startsWith(redirectBase(url.href)), { waitUntil: 'load' })
    const origin = new URL(authorizationUrl).origin
    return { url, consentText, problems: window.problems.filter(problem => problem.url.startsWith(origin)) }
  } finally {
    await window.close()
  }
}

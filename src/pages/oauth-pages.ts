import { SCOPES } from '../auth/scopes.ts'
import { html } from './html.ts'
import type { SafeHtml } from './html.ts'
import { problem } from './layout.ts'
import type { Page } from './layout.ts'

/** What each scope lets the client do, in the words the person deciding reads. */
const SCOPE_MEANINGS: Readonly<Record<string, string>> = {
  [SCOPES.read]: 'See dashboards, charts, datasets and databases',
  [SCOPES.write]: 'Create and change charts, dashboards and datasets',
  [SCOPES.sql]: 'Run SQL queries on the databases you may query'
}

const CLIENT_SOURCES: Readonly<Record<string, string>> = {
  'pre-registered': 'registered by your administrators',
  registered: 'registered itself (its name is not verified)',
  'metadata-document': 'identified by its published metadata'
}

export interface ConsentDetails {
  clientName: string
  clientId: string
  clientKind: string
  /** Where the browser goes next: the redirect URI's host (or an app's own scheme). */
  destination: string
  scopes: readonly string[]
  username: string
  requestId: string
  csrf: string
  /** Where the form posts: this service's /oauth/consent. */
  action: string
}

/**
 * The consent page: who asks, where the answer goes, what it may do, as whom. The form posts
 * to this service only; the request id and the CSRF token (also bound to a cookie) make a
 * decision count only from the browser that signed in.
 */
export function consentPage (details: ConsentDetails): Page {
  const scopes = details.scopes.map(scope => html`<li><strong>${scope}</strong>: ${SCOPE_MEANINGS[scope] ?? scope}</li>`)
  return {
    status: 200,
    title: `Allow ${details.clientName}?`,
    charts: false,
    referrer: 'same-origin',
    body: html`<main><section class="problem consent">
<h1>Allow ${details.clientName} to use analytics as ${details.username}?</h1>
<p>${details.clientName} asks to work with your dashboards, charts and data through this analytics service, as you.</p>
<dl>
<dt>Application</dt><dd>${details.clientName} (${CLIENT_SOURCES[details.clientKind] ?? details.clientKind})</dd>
<dt>Client id</dt><dd>${details.clientId}</dd>
<dt>Sends you back to</dt><dd>${details.destination}</dd>
<dt>Signed in as</dt><dd>${details.username}</dd>
</dl>
<p>It will be able to:</p>
<ul>${scopes}</ul>
<p>Your roles still decide what you can see and change. Your administrator can end this access at any time.</p>
<form method="post" action="${details.action}">
<input type="hidden" name="request" value="${details.requestId}">
<input type="hidden" name="csrf" value="${details.csrf}">
<button class="allow" type="submit" name="decision" value="allow">Allow</button>
<button class="deny" type="submit" name="decision" value="deny">Deny</button>
</form>
</section></main>`
  }
}

export interface SignInProblem {
  status: number
  /** The step that failed, as the person knows it. */
  title: string
  lines: readonly string[]
  /** Whom to ask (MCP_OAUTH_SUPPORT_CONTACT). */
  contact: string
  /** Back to the client, carrying the error, when the client may be told. */
  backUrl?: string | undefined
  clientName?: string | undefined
}

/** A sign-in that cannot go on: which step failed, whom to ask, and the way back to the client. */
export function signInProblemPage (details: SignInProblem): Page {
  const lines: SafeHtml[] = details.lines.map(line => html`<p>${line}</p>`)
  lines.push(html`<p>If you think you should have access, ask ${details.contact}.</p>`)
  if (details.backUrl !== undefined) lines.push(html`<p><a class="back" href="${details.backUrl}">Return to ${details.clientName ?? 'the application'}</a></p>`)
  return problem(details.status, details.title, ...lines)
}

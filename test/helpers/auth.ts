import type { Test } from 'tap'
import { startTestServer } from './app.ts'
import type { RunningServer } from './app.ts'
import { post, toolCall } from './rpc.ts'
import type { RawResponse } from './rpc.ts'

export const AUDIENCE = 'https://analytics.test/mcp'
export const ISSUER = 'https://idp.test/realms/acme'
export const SECRET = 'a-shared-secret-of-at-least-32-characters!'

/** Settings of a server that requires JWTs; tokens must be for AUDIENCE from ISSUER. */
export function jwtSettings (extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    MCP_AUTH_ENABLED: true,
    MCP_SERVICE_URL: 'https://analytics.test',
    MCP_JWT_AUDIENCE: [AUDIENCE],
    MCP_JWT_ISSUER: [ISSUER],
    ...extra
  }
}

export async function startSecuredServer (t: Test, settings: Record<string, unknown>): Promise<RunningServer> {
  return await startTestServer(t, settings)
}

/** A tools/call with an Authorization header. */
export async function callWith (server: RunningServer, authorization: string | undefined, tool = 'health_check', args: unknown = {}): Promise<RawResponse> {
  return await post(server.url, toolCall(tool, args), authorization === undefined ? {} : { authorization })
}

/** The generic 401 body every refused credential gets. */
export const INVALID_TOKEN_BODY = { error: 'invalid_token', error_description: 'The access token is invalid' }

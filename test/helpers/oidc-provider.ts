import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import Provider from 'oidc-provider'
import type { Test } from 'tap'

/** A client of the test identity provider, for the client_credentials grant (service accounts). */
export interface TestClient {
  client_id: string
  client_secret: string
}

export interface OidcProviderOptions {
  /** The resource server (RFC 8707 resource indicator) tokens are for: our MCP endpoint. */
  resource: string
  clients: TestClient[]
  /** Scopes the resource accepts. */
  scopes: string[]
}

export interface RunningOidcProvider {
  issuer: string
  jwksUri: string
  tokenEndpoint: string
  /** A JWT access token for `resource` by the client_credentials grant, as a service account gets one. */
  clientToken: (client: TestClient, options?: { resource?: string, scope?: string }) => Promise<{ status: number, body: Record<string, any> }>
}

/**
 * A real, OpenID-certified identity provider (panva's oidc-provider) on loopback: discovery,
 * JWKS with its own generated keys, and JWT access tokens for a resource indicator, the way
 * Keycloak, Entra ID or Okta issue them to a service account.
 */
export async function startOidcProvider (t: Test, options: OidcProviderOptions): Promise<RunningOidcProvider> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const provider = new Provider(issuer, {
    clients: options.clients.map(client => ({ ...client, grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_post' })),
    scopes: options.scopes,
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => options.resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (resource !== options.resource) throw new Error(`unknown resource ${resource}`)
          return { scope: options.scopes.join(' '), audience: resource, accessTokenTTL: 300, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } }
        }
      }
    }
  })
  // Plain HTTP on loopback is fine for a test; the provider would otherwise insist on TLS for cookies.
  provider.proxy = true
  server.on('request', provider.callback())
  t.teardown(async () => { await new Promise(resolve => server.close(resolve)) })
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json() as { jwks_uri: string, token_endpoint: string }
  return {
    issuer,
    jwksUri: discovery.jwks_uri,
    tokenEndpoint: discovery.token_endpoint,
    async clientToken (client, request = {}) {
      const response = await fetch(discovery.token_endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: client.client_id, client_secret: client.client_secret, resource: request.resource ?? options.resource, scope: request.scope ?? options.scopes.join(' ') })
      })
      return { status: response.status, body: await response.json() as Record<string, any> }
    }
  }
}

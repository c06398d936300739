import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client'
import type { Test } from 'tap'

export type Era = 'legacy' | 'modern'

export const ERAS: readonly Era[] = ['legacy', 'modern']

/** An SDK v2 client over real HTTP: legacy (initialize handshake) or modern (2026-07-28). */
export async function connectClient (t: Test, url: URL, era: Era, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client(
    { name: 'analytics-mcp-tests', version: '1.0.0' },
    { versionNegotiation: { mode: era === 'legacy' ? 'legacy' : { pin: '2026-07-28' } } }
  )
  await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers } }))
  t.teardown(() => client.close())
  return client
}

/** The text of the first content block of a tool result. */
export function textOf (result: { content?: unknown }): string {
  const content = result.content as Array<{ type: string, text?: string }> | undefined
  return content?.find(block => block.type === 'text')?.text ?? ''
}

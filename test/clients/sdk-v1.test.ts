import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { clientMatrix, v1Adapter } from '../helpers/client-matrix.ts'

// The SDK v1 client (what most MCP hosts ship) against the real server over HTTP. It checks
// structuredContent against the tool's output schema, on error results too, and throws when
// they disagree: an error result must carry its message in content and no structuredContent.

t.test('SDK v1 client over HTTP', async t => {
  const server = await startTestServer(t)
  const client = new Client({ name: 'analytics-mcp-tests-v1', version: '1.0.0' })
  await client.connect(new StreamableHTTPClientTransport(server.url))
  t.teardown(() => client.close())

  t.test('connects with the legacy handshake', async t => {
    t.equal(client.getServerVersion()?.name, 'analytics-mcp')
    t.ok(client.getServerCapabilities()?.tools, 'tools are a capability')
    t.match(client.getInstructions() ?? '', /execute_sql/)
  })

  await clientMatrix(t, v1Adapter(client))
})

import t from 'tap'
import { startTestServer } from '../helpers/app.ts'
import { connectClient, ERAS } from '../helpers/client.ts'
import { clientMatrix, v2Adapter } from '../helpers/client-matrix.ts'

// The SDK v2 client against the real server over HTTP, in both protocol eras: legacy
// (initialize handshake) and modern (2026-07-28, per-request metadata). Each era gets a fresh
// server, since the good calls change the catalog.

for (const era of ERAS) {
  t.test(`SDK v2 client over HTTP, ${era} era`, async t => {
    const server = await startTestServer(t)
    const client = await connectClient(t, server.url, era)

    t.test('negotiates the era it asked for', async t => {
      t.equal(client.getNegotiatedProtocolVersion(), era === 'legacy' ? '2025-11-25' : '2026-07-28')
      t.equal(client.getServerVersion()?.name, 'analytics-mcp')
    })

    await clientMatrix(t, v2Adapter(client))
  })
}

import t from 'tap'
import { startTestServer } from './helpers/app.ts'
import { jwtSettings, SECRET } from './helpers/auth.ts'
import { bothEras } from './helpers/tools.ts'
import { claimsFor, signWithSecret } from './helpers/keys.ts'
import { post, rawRequest } from './helpers/rpc.ts'

// Prompts, resource templates, completions and progress, as clients use them: what is
// advertised works in both eras, and what is not implemented is not advertised.

const rpc = (method: string, params: Record<string, unknown> = {}): unknown => ({ jsonrpc: '2.0', id: 1, method, params })

t.test('prompts, templates, completions and progress through the SDK v2 client', async t => {
  const server = await startTestServer(t)
  await bothEras(t, server.url, async (t, { client, era }) => {
    t.test('capabilities: prompts, completions and resources; no logging (a stateless server has no session to hold a level)', async t => {
      const capabilities = client.getServerCapabilities()
      t.ok(capabilities?.prompts, 'prompts')
      t.ok(capabilities?.completions, 'completions')
      t.ok(capabilities?.resources, 'resources')
      t.notOk(capabilities?.logging, 'no logging capability')
      t.equal(capabilities?.resources?.subscribe === true, era === 'modern', 'subscriptions only where subscriptions/listen carries them')
    })

    t.test('Superset\'s prompts are listed and render with their arguments', async t => {
      const { prompts } = await client.listPrompts()
      t.same(prompts.map(prompt => prompt.name), ['quickstart', 'create_chart_guided'])
      const quickstart = await client.getPrompt({ name: 'quickstart', arguments: { user_type: 'developer', focus_area: 'sales' } })
      const text = (quickstart.messages[0]?.content as { text: string }).text
      t.match(text, /execute_sql/, 'the developer workflow names execute_sql')
      t.match(text, /as a developer interested in sales/)
      const guided = await client.getPrompt({ name: 'create_chart_guided', arguments: { chart_type: 'line', dataset: 'orders' } })
      const guide = (guided.messages[0]?.content as { text: string }).text
      t.match(guide, /order_date \(DATE, date\)/, 'the chosen dataset\'s columns are in the prompt')
      t.match(guide, /Make a line chart/)
      const defaults = await client.getPrompt({ name: 'create_chart_guided' })
      t.match((defaults.messages[0]?.content as { text: string }).text, /list_datasets to choose a dataset/, 'every argument is optional')
    })

    t.test('a bad prompt argument is a JSON-RPC error naming the allowed values', async t => {
      await t.rejects(client.getPrompt({ name: 'quickstart', arguments: { user_type: 'wizard' } }), /Invalid user_type "wizard": use one of analyst, executive, developer/)
      await t.rejects(client.getPrompt({ name: 'create_chart_guided', arguments: { dataset: 'no_such_dataset' } }), /No dataset named "no_such_dataset"/)
      await t.rejects(client.getPrompt({ name: 'nope' }), /Unknown prompt: nope/)
    })

    t.test('resource templates for one dataset, chart or dashboard', async t => {
      const { resourceTemplates } = await client.listResourceTemplates()
      t.same(resourceTemplates.map(template => template.uriTemplate), ['dataset://{identifier}', 'chart://{identifier}', 'dashboard://{identifier}'])
      const dataset = await client.readResource({ uri: 'dataset://orders' })
      const info = JSON.parse((dataset.contents[0] as { text: string }).text)
      t.equal(info.table_name, 'orders')
      t.ok(info.columns.some((column: { column_name: string }) => column.column_name === 'order_date'), 'the dataset\'s columns')
      const chart = JSON.parse((((await client.readResource({ uri: `chart://${encodeURIComponent('revenue by region')}` })).contents[0]) as { text: string }).text)
      t.equal(chart.slice_name, 'Revenue by Region', 'a chart by its name, whatever the case')
      const byId = JSON.parse((((await client.readResource({ uri: 'chart://3' })).contents[0]) as { text: string }).text)
      t.equal(byId.id, chart.id, 'or by its id')
      const dashboard = JSON.parse((((await client.readResource({ uri: 'dashboard://sales-overview' })).contents[0]) as { text: string }).text)
      t.equal(dashboard.slug, 'sales-overview')
      await t.rejects(client.readResource({ uri: 'dataset://no_such_dataset' }), /No dataset matches identifier "no_such_dataset"/)
      await t.rejects(client.readResource({ uri: 'nothing://here' }), /Resource not found: nothing:\/\/here/)
    })

    t.test('completions: names of objects, and the choices of prompt arguments', async t => {
      const charts = await client.complete({ ref: { type: 'ref/resource', uri: 'chart://{identifier}' }, argument: { name: 'identifier', value: 'rev' } })
      t.ok(charts.completion.values.length >= 2, 'several charts mention revenue')
      t.ok(charts.completion.values.every(value => /rev/i.test(value)), 'every value matches what was typed')
      t.match(charts.completion.values[0], /^Rev/i, 'names that start with it come first')
      const datasets = await client.complete({ ref: { type: 'ref/resource', uri: 'dataset://{identifier}' }, argument: { name: 'identifier', value: 'ord' } })
      t.same(datasets.completion.values, ['order_details', 'orders'])
      const dashboards = await client.complete({ ref: { type: 'ref/resource', uri: 'dashboard://{identifier}' }, argument: { name: 'identifier', value: '' } })
      t.ok(dashboards.completion.values.length >= 2, 'an empty value offers every dashboard')
      const userTypes = await client.complete({ ref: { type: 'ref/prompt', name: 'quickstart' }, argument: { name: 'user_type', value: 'e' } })
      t.same(userTypes.completion.values, ['executive', 'developer'], 'starts first, then contains')
      const promptDatasets = await client.complete({ ref: { type: 'ref/prompt', name: 'create_chart_guided' }, argument: { name: 'dataset', value: 'prod' } })
      t.same(promptDatasets.completion.values, ['products'])
      await t.rejects(client.complete({ ref: { type: 'ref/prompt', name: 'nope' }, argument: { name: 'x', value: '' } }), /Unknown prompt: nope/)
    })

    t.test('progress notifications for a call that asks for them', async t => {
      const progress: Array<{ progress: number, total?: number, message?: string }> = []
      const result = await client.callTool({ name: 'execute_sql', arguments: { database_id: 1, sql: 'SELECT COUNT(*) AS n FROM orders' } }, { onprogress: update => { progress.push(update) } })
      t.notOk(result.isError)
      t.same(progress.map(update => update.progress), [0, 1], 'started, then finished')
      t.match(progress[0]?.message, /Running SQL on examples/)
      t.equal(progress[1]?.message, '1 row')
    })
  })
})

t.test('templates and completions follow the caller\'s roles and scopes', async t => {
  const server = await startTestServer(t, jwtSettings({ MCP_JWT_ALGORITHM: 'HS256', MCP_JWT_SECRET: SECRET, MCP_JWT_ISSUER: [] }))
  const { catalog } = server.app
  const orders = await catalog.findDataset('orders')
  if (orders === undefined) throw new Error('example data missing')
  await catalog.createRole('orders_only', 'Only the orders dataset')
  await catalog.grantPermission('orders_only', { permission: 'datasource_access', resource: 'Dataset', resource_id: orders.id })
  await catalog.createUser({ username: 'u_orders', roles: ['Gamma', 'orders_only'] })
  await catalog.createUser({ username: 'u_none', roles: [] })
  const as = (username: string, scope?: string): Record<string, string> => ({ authorization: `Bearer ${signWithSecret(SECRET, claimsFor(username, scope === undefined ? {} : { scope }))}` })
  const values = async (username: string, uri: string, value: string): Promise<string[]> => {
    const response = await post(server.url, rpc('completion/complete', { ref: { type: 'ref/resource', uri }, argument: { name: 'identifier', value } }), as(username))
    return response.json.result.completion.values
  }

  t.same(await values('u_orders', 'dataset://{identifier}', ''), ['orders'], 'only the datasets the user may see')
  t.same(await values('u_none', 'dataset://{identifier}', ''), [], 'no role, no names')
  const promptValues = async (username: string): Promise<string[]> => (await post(server.url, rpc('completion/complete', { ref: { type: 'ref/prompt', name: 'create_chart_guided' }, argument: { name: 'dataset', value: '' } }), as(username))).json.result.completion.values
  t.same(await promptValues('u_orders'), ['orders'], 'the prompt\'s dataset argument offers the same names as the template')
  t.same(await promptValues('u_none'), [])
  const hidden = await post(server.url, rpc('resources/read', { uri: 'dataset://customers' }), as('u_orders'))
  t.match(hidden.json.error.message, /No dataset matches identifier "customers"/, 'a hidden dataset reads as a missing one')
  const readOnly = await post(server.url, rpc('completion/complete', { ref: { type: 'ref/resource', uri: 'dataset://{identifier}' }, argument: { name: 'identifier', value: '' } }), as('admin', 'mcp:sql'))
  t.equal(readOnly.status, 403, 'a credential without mcp:read gets a step-up challenge for completions')
  t.match(readOnly.headers.get('www-authenticate'), /insufficient_scope/)
})

t.test('--debug shows each MCP request and its answer in the log', async t => {
  const lines: Array<Record<string, unknown>> = []
  const { Writable } = await import('node:stream')
  const stream = new Writable({
    write (chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line.trim() !== '') lines.push(JSON.parse(line) as Record<string, unknown>)
      done()
    }
  })
  const server = await startTestServer(t, { MCP_DEBUG: true, MCP_LOG_LEVEL: 'info' }, { logger: { level: 'debug', stream } })
  await post(server.url, { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'get_dataset_info', arguments: { identifier: 99_999 } } })
  const asked = lines.find(line => line.msg === 'MCP request')
  t.match(asked, { method: 'tools/call', era: 'legacy', target: 'get_dataset_info', user: 'admin' })
  t.notOk(JSON.stringify(asked).includes('99999'), 'arguments stay out of it (they are in the audit line, redacted)')
  t.match(lines.find(line => line.msg === 'MCP response'), { status: 200, is_error: true })
  t.equal(server.app.config.logLevel, 'debug', 'MCP_DEBUG sets the debug level')

  const quiet = await rawRequest(server.url, { method: 'GET' })
  t.equal(quiet.status, 405, 'GET still answers 405')
})

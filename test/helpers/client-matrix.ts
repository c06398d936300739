import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import path from 'node:path'
import type { Client as V2Client } from '@modelcontextprotocol/client'
import type { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js'
import type { Test } from 'tap'
import { textOf } from './client.ts'
import { FAILURE_KINDS, TOOL_CALLS } from './tool-calls.ts'
import type { Args, BadCall } from './tool-calls.ts'
import { TOOL_NAMES } from './tools.ts'

/** A tools/call result as any client hands it over. */
export interface ToolResult {
  content?: unknown
  structuredContent?: unknown
  isError?: boolean
  _meta?: Record<string, unknown>
}

/** A prompt as prompts/list describes it. */
export interface ListedPrompt {
  name: string
  arguments?: Array<{ name: string, required?: boolean }>
}

/** One part of a resources/read result. */
export interface ResourceContents {
  uri: string
  mimeType?: string
  text?: string
  blob?: string
}

/** What the matrix asks of a client: each method is one of the client's own calls, unchanged. */
export interface ClientAdapter {
  listTools: () => Promise<Array<{ name: string }>>
  /** Resolves with the result, error results included; rejects on a JSON-RPC error (or a client-side check). */
  callTool: (name: string, args: Args) => Promise<ToolResult>
  listResources: () => Promise<Array<{ uri: string }>>
  readResource: (uri: string) => Promise<{ contents: ResourceContents[] }>
  listResourceTemplates: () => Promise<Array<{ uriTemplate: string, name: string }>>
  listPrompts: () => Promise<ListedPrompt[]>
  getPrompt: (name: string, args: Record<string, string>) => Promise<{ messages: Array<{ role: string, content: unknown }> }>
}

type Settled<T> = { value: T } | { error: unknown }

async function settle<T> (promise: Promise<T>): Promise<Settled<T>> {
  try {
    return { value: await promise }
  } catch (error) {
    return { error }
  }
}

function describeError (error: unknown): string {
  const { code, message } = error as { code?: unknown, message?: unknown }
  return `${String(code)} ${String(message).slice(0, 300)}`
}

/** The value of a call that must not throw; a throw is one failed assertion naming the call. */
async function attempt<T> (t: Test, label: string, promise: Promise<T>): Promise<T | undefined> {
  const outcome = await settle(promise)
  if ('value' in outcome) return outcome.value
  t.fail(`${label} threw ${describeError(outcome.error)}`)
  return undefined
}

const isObject = (value: unknown): boolean => typeof value === 'object' && value !== null && !Array.isArray(value)

/** Call a tool that must succeed: a result (not a throw), not isError, with structured content and text. */
export async function expectSuccess (t: Test, client: Pick<ClientAdapter, 'callTool'>, name: string, args: Args): Promise<ToolResult | undefined> {
  const label = `${name} ${JSON.stringify(args)}`
  const result = await attempt(t, label, client.callTool(name, args))
  if (result === undefined) return undefined
  t.notOk(result.isError, `${label} succeeds: ${textOf(result).slice(0, 200)}`)
  t.ok(isObject(result.structuredContent), `${label} carries structuredContent`)
  t.ok(textOf(result).length > 0, `${label} carries text for the model`)
  return result
}

/**
 * Make a call that must fail as a tool error: a result (not a thrown JSON-RPC or client error)
 * with isError, our message in its text, the kind in `_meta.error_type`, and no
 * structuredContent (it would not match the tool's output schema, which describes a success).
 */
export async function expectToolError (t: Test, client: Pick<ClientAdapter, 'callTool'>, name: string, { args, kind, errorType, mentions }: BadCall): Promise<void> {
  const label = `${name} (${kind}) ${JSON.stringify(args)}`
  const result = await attempt(t, `${label} is a result, not a thrown error:`, client.callTool(name, args))
  if (result === undefined) return
  const text = textOf(result)
  t.equal(result.isError, true, `${label} is isError`)
  t.match(text, mentions, `${label} says what to fix: ${text.slice(0, 200)}`)
  t.notMatch(text, /\.ts:\d+|at \w+ \(|node_modules/, `${label} shows no internals`)
  t.equal(result._meta?.error_type, errorType, `${label} has _meta.error_type ${errorType}`)
  t.equal(result.structuredContent, undefined, `${label} has no structuredContent`)
}

/** A value a person would give an argument (of a prompt or a resource template) so named, on the example data. */
function plausibleArgument (name: string): string {
  const rules: Array<[RegExp, string]> = [
    [/chart_type|viz/, 'xy'],
    [/dataset|table/, 'orders'],
    [/database/, 'examples'],
    [/dashboard/, 'sales-overview'],
    [/chart/, '1'],
    [/metric/, 'revenue'],
    [/column|dimension|group|x_axis/, 'region'],
    [/time_range|period/, 'Last year']
  ]
  return rules.find(([pattern]) => pattern.test(name.toLowerCase()))?.[1] ?? 'Revenue by region per month'
}

/**
 * Drive one client through every tool of the call table and every resource and prompt the
 * server lists, asserting what a user of that client sees. The server must be fresh: the good
 * calls change the catalog.
 */
export async function clientMatrix (t: Test, client: ClientAdapter): Promise<void> {
  // Clients list tools before calling them, and the SDKs check structured results against
  // the output schemas they listed.
  const listed = await client.listTools()

  t.test('tools/list shows every tool, and the call table covers each', async t => {
    const names = listed.map(tool => tool.name)
    t.same(names, TOOL_NAMES)
    t.same(Object.keys(TOOL_CALLS), names, 'a table entry per listed tool, in order')
    for (const [name, { good, bad }] of Object.entries(TOOL_CALLS)) {
      t.ok(good.length >= 1 && bad.length >= 2, `${name} has good calls and several bad ones`)
    }
    const kinds = new Set(Object.values(TOOL_CALLS).flatMap(({ bad }) => bad.map(call => call.kind)))
    t.same([...kinds].sort(), [...FAILURE_KINDS].sort(), 'the bad calls cover every kind of failure')
  })

  t.test('every good call succeeds with structured content', async t => {
    for (const [name, { good }] of Object.entries(TOOL_CALLS)) {
      for (const args of good) await expectSuccess(t, client, name, args)
    }
  })

  t.test('every bad call is an error result whose text says what to fix', async t => {
    for (const [name, { bad }] of Object.entries(TOOL_CALLS)) {
      for (const call of bad) await expectToolError(t, client, name, call)
    }
  })

  t.test('an unknown tool is a JSON-RPC error -32602', async t => {
    const outcome = await settle(client.callTool('drop_everything', {}))
    if (!('error' in outcome)) {
      t.fail(`resolved instead: ${JSON.stringify(outcome.value).slice(0, 200)}`)
      return
    }
    t.match(outcome.error, { code: -32602, message: /Unknown tool: drop_everything/ })
  })

  t.test('every listed resource can be read', async t => {
    const resources = await attempt(t, 'resources/list', client.listResources()) ?? []
    t.ok(resources.length > 0, 'resources/list lists resources')
    for (const { uri } of resources) {
      const contents = (await attempt(t, `resources/read ${uri}`, client.readResource(uri)))?.contents ?? []
      t.ok(contents.length > 0, `${uri} has contents`)
      for (const part of contents) {
        t.equal(part.uri, uri, `${uri}: contents name their resource`)
        const body = part.text ?? part.blob ?? ''
        t.ok(body.length > 0, `${uri}: contents are not empty`)
        if (part.mimeType === 'application/json') t.doesNotThrow(() => JSON.parse(body), `${uri} is JSON`)
      }
    }
  })

  t.test('resource templates can be listed, and read with plausible values', async t => {
    const templates = await attempt(t, 'resources/templates/list', client.listResourceTemplates())
    if (templates === undefined) return
    t.ok(Array.isArray(templates), 'resources/templates/list answers with a list')
    for (const template of templates) {
      t.match(template, { uriTemplate: /\{\w+\}/, name: String }, `${template.name} is a URI template with a variable`)
      const uri = template.uriTemplate.replace(/\{(\w+)\}/g, (_, variable: string) => encodeURIComponent(plausibleArgument(`${template.name} ${variable}`)))
      const contents = (await attempt(t, `resources/read ${uri}`, client.readResource(uri)))?.contents ?? []
      t.ok(contents.some(part => (part.text ?? part.blob ?? '').length > 0), `${uri} has contents`)
    }
  })

  t.test('every listed prompt can be got with its required arguments', async t => {
    const prompts = await attempt(t, 'prompts/list', client.listPrompts()) ?? []
    t.ok(prompts.length > 0, 'prompts/list lists prompts')
    for (const prompt of prompts) {
      const args = Object.fromEntries((prompt.arguments ?? []).filter(arg => arg.required === true).map(arg => [arg.name, plausibleArgument(arg.name)]))
      const messages = (await attempt(t, `prompts/get ${prompt.name} ${JSON.stringify(args)}`, client.getPrompt(prompt.name, args)))?.messages ?? []
      t.ok(messages.length > 0, `${prompt.name} has messages`)
      for (const message of messages) {
        t.ok(['user', 'assistant'].includes(message.role), `${prompt.name}: role ${message.role}`)
        const content = message.content as { type?: string, text?: string }
        if (content.type === 'text') t.ok((content.text ?? '').length > 0, `${prompt.name}: text is not empty`)
      }
    }
  })
}

/** The matrix's calls made by an SDK v1 client (`@modelcontextprotocol/sdk`). */
export function v1Adapter (client: V1Client): ClientAdapter {
  return {
    listTools: async () => (await client.listTools()).tools,
    callTool: async (name, args) => await client.callTool({ name, arguments: args }) as ToolResult,
    listResources: async () => (await client.listResources()).resources,
    readResource: async uri => await client.readResource({ uri }),
    listResourceTemplates: async () => (await client.listResourceTemplates()).resourceTemplates,
    listPrompts: async () => (await client.listPrompts()).prompts,
    getPrompt: async (name, args) => await client.getPrompt({ name, arguments: args })
  }
}

/** The matrix's calls made by an SDK v2 client (`@modelcontextprotocol/client`). */
export function v2Adapter (client: V2Client): ClientAdapter {
  return {
    listTools: async () => (await client.listTools()).tools,
    callTool: async (name, args) => await client.callTool({ name, arguments: args }),
    listResources: async () => (await client.listResources()).resources,
    readResource: async uri => await client.readResource({ uri }),
    listResourceTemplates: async () => (await client.listResourceTemplates()).resourceTemplates,
    listPrompts: async () => (await client.listPrompts()).prompts,
    getPrompt: async (name, args) => await client.getPrompt({ name, arguments: args })
  }
}

/** The JS file behind a client package's bin, to run with `process.execPath` (no npx, no PATH lookup). */
export function clientBin (packageName: string, bin: string): string {
  const manifest = createRequire(import.meta.url).resolve(`${packageName}/package.json`)
  const bins = (JSON.parse(readFileSync(manifest, 'utf8')) as { bin: Record<string, string> }).bin
  const entry = bins[bin]
  if (entry === undefined) throw new Error(`${packageName} has no bin ${bin}`)
  return path.join(path.dirname(manifest), entry)
}

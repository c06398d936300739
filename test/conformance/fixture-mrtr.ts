import { randomBytes } from 'node:crypto'
import { acceptedContent, CLIENT_CAPABILITIES_META_KEY, createRequestStateCodec, inputRequired, inputResponse, ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server'
import type { CallToolResult, ClientCapabilities, GetPromptResult, InputRequest, InputRequests, ServerContext, Tool } from '@modelcontextprotocol/server'
import type { SurfacePrompt, SurfaceTool } from '../../src/mcp/surface.ts'
import type { CallScope } from '../../src/mcp/toolset.ts'

/**
 * The 2026-07-28 multi-round-trip (MRTR, SEP-2322) tools of the input-required-result
 * scenarios: each answers an `input_required` result until the retried call carries the
 * responses it asked for. `requestState` is HMAC-signed, and a state that fails verification
 * is refused (a JSON-RPC error), as the spec requires of state that drives behaviour.
 */

const NO_ARGUMENTS: Tool['inputSchema'] = { type: 'object', properties: {} }

/** The capabilities a 2026-07-28 request declares in its _meta (legacy requests: undefined). */
export function declaredCapabilities (context: ServerContext): ClientCapabilities | undefined {
  const envelope: Readonly<Record<string, unknown>> | undefined = context.mcpReq.envelope
  return envelope?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined
}

/**
 * Signed (HMAC) requestState, bound to the method and the caller. Handlers verify it
 * themselves: the server factory configures no `requestState.verify` hook.
 */
const stateCodec = createRequestStateCodec<Record<string, unknown>>({
  key: randomBytes(32),
  bind: context => `${context.mcpReq.method}\0${context.http?.authInfo?.clientId ?? ''}`
})

/** The echoed requestState's payload; undefined when the round carried none, an error when it was altered. */
async function verifiedState (context: ServerContext): Promise<Record<string, unknown> | undefined> {
  const raw = context.mcpReq.requestState<string>()
  if (raw === undefined) return undefined
  try {
    return await stateCodec.verify(String(raw), context)
  } catch {
    throw new ProtocolError(ProtocolErrorCode.InvalidParams, 'requestState integrity check failed')
  }
}

function text (value: string): CallToolResult {
  return { content: [{ type: 'text', text: value }] }
}

async function ask (context: ServerContext, inputRequests: InputRequests, state?: Record<string, unknown>): Promise<CallToolResult> {
  const requestState = state === undefined ? undefined : await stateCodec.mint(state, context)
  // SurfaceTool.call is typed for complete results; the SDK's tools/call seam also takes
  // input_required ones (HandlerResultTypeMap), which is what this returns.
  return inputRequired({ inputRequests, ...(requestState === undefined ? {} : { requestState }) }) as unknown as CallToolResult
}

function elicit (message: string, field: string, type: 'string' | 'boolean' = 'string'): InputRequest {
  const property = type === 'boolean' ? { type: 'boolean' as const } : { type: 'string' as const }
  return inputRequired.elicit({ message, requestedSchema: { type: 'object', properties: { [field]: property }, required: [field] } })
}

function sample (prompt: string, maxTokens: number): InputRequest {
  return inputRequired.createMessage({ messages: [{ role: 'user', content: { type: 'text', text: prompt } }], maxTokens })
}

function samplingText (context: ServerContext, key: string): string | undefined {
  const view = inputResponse(context.mcpReq.inputResponses, key)
  if (view.kind !== 'sampling') return undefined
  const content = Array.isArray(view.result.content) ? view.result.content[0] : view.result.content
  return content?.type === 'text' ? content.text : undefined
}

function rootsCount (context: ServerContext, key: string): number | undefined {
  const view = inputResponse(context.mcpReq.inputResponses, key)
  return view.kind === 'roots' ? view.roots.length : undefined
}

function stringField (context: ServerContext, key: string, field: string): string | undefined {
  const value = acceptedContent(context.mcpReq.inputResponses, key)?.[field]
  return typeof value === 'string' ? value : undefined
}

function mrtrTool (name: string, description: string, call: (context: ServerContext) => Promise<CallToolResult>): SurfaceTool {
  return { listing: { name, description, inputSchema: NO_ARGUMENTS }, call: (_args, context) => call(context) }
}

/** The MRTR tools, for the fixture surface. */
export function inputRequiredTools (): SurfaceTool[] {
  return [
    mrtrTool('test_input_required_result_elicitation', 'MRTR: returns InputRequiredResult with elicitation request', async context => {
      const name = stringField(context, 'user_name', 'name')
      return name === undefined ? ask(context, { user_name: elicit('What is your name?', 'name') }) : text(`Hello, ${name}!`)
    }),
    mrtrTool('test_input_required_result_sampling', 'MRTR: returns InputRequiredResult with sampling request', async context => {
      const answer = samplingText(context, 'sample_request')
      return answer === undefined ? ask(context, { sample_request: sample('What is the capital of France?', 100) }) : text(`Sampling result: ${answer}`)
    }),
    mrtrTool('test_input_required_result_list_roots', 'MRTR: returns InputRequiredResult with roots/list request', async context => {
      const count = rootsCount(context, 'roots_request')
      return count === undefined ? ask(context, { roots_request: inputRequired.listRoots() }) : text(`Found ${count} root(s)`)
    }),
    mrtrTool('test_input_required_result_request_state', 'MRTR: returns InputRequiredResult with requestState', async context => {
      const state = await verifiedState(context)
      const confirmed = acceptedContent(context.mcpReq.inputResponses, 'confirm')?.ok === true
      if (state?.kind === 'request-state' && confirmed) return text('state-ok: requestState validated')
      return ask(context, { confirm: elicit('Please confirm', 'ok', 'boolean') }, { kind: 'request-state' })
    }),
    mrtrTool('test_input_required_result_multiple_inputs', 'MRTR: returns InputRequiredResult with multiple input requests', async context => {
      const state = await verifiedState(context)
      const name = stringField(context, 'user_name', 'name')
      const greeting = samplingText(context, 'greeting')
      const roots = rootsCount(context, 'client_roots')
      if (state?.kind === 'multiple-inputs' && name !== undefined && greeting !== undefined && roots !== undefined) {
        return text(`Name: ${name}; Greeting: ${greeting}; Roots: ${roots}`)
      }
      return ask(context, {
        user_name: elicit('What is your name?', 'name'),
        greeting: sample('Generate a greeting', 50),
        client_roots: inputRequired.listRoots()
      }, { kind: 'multiple-inputs' })
    }),
    mrtrTool('test_input_required_result_multi_round', 'MRTR: multi-round InputRequiredResult workflow', async context => {
      const state = await verifiedState(context)
      const name = stringField(context, 'step1', 'name')
      if (state?.round === 1 && name !== undefined) {
        return ask(context, { step2: elicit('Step 2: What is your favorite color?', 'color') }, { round: 2, name })
      }
      const color = stringField(context, 'step2', 'color')
      if (state?.round === 2 && color !== undefined) return text(`Multi-round complete for ${String(state.name)} who likes ${color}`)
      return ask(context, { step1: elicit('Step 1: What is your name?', 'name') }, { round: 1 })
    }),
    mrtrTool('test_input_required_result_tampered_state', 'MRTR: HMAC-signed requestState integrity test', async context => {
      const state = await verifiedState(context)
      if (state?.kind === 'tamper-test' && acceptedContent(context.mcpReq.inputResponses, 'confirm') !== undefined) {
        return text('integrity-ok: state verified')
      }
      return ask(context, { confirm: elicit('Please confirm', 'ok', 'boolean') }, { kind: 'tamper-test' })
    }),
    mrtrTool('test_input_required_result_capabilities', 'MRTR: respects client capabilities in inputRequests', async context => {
      const responses = Object.keys(context.mcpReq.inputResponses ?? {})
      if (responses.length > 0) return text(`capabilities-ok: received ${responses.join(',')}`)
      const capabilities = declaredCapabilities(context)
      const requests: InputRequests = {}
      if (capabilities?.elicitation !== undefined) requests.elicit_input = elicit('Elicitation input', 'value')
      if (capabilities?.sampling !== undefined) requests.sample_input = sample('Sample request', 50)
      if (Object.keys(requests).length === 0) return text('No supported capabilities declared')
      return ask(context, requests, { kind: 'capabilities-test' })
    })
  ]
}

/**
 * input-required-result-non-tool-request: a prompt that asks for input before it renders.
 * Written against `get(args, scope, context)`: the server factory passes no ServerContext to a
 * surface prompt yet (so no inputResponses), and without one this prompt refuses the call.
 */
export function inputRequiredPrompt (): SurfacePrompt {
  const get = (_args: Readonly<Record<string, string>>, _scope: CallScope, context?: ServerContext): GetPromptResult => {
    if (context === undefined) {
      throw new ProtocolError(ProtocolErrorCode.InternalError, 'This prompt needs the request context (inputResponses), which the server factory does not pass to prompts')
    }
    const value = stringField(context, 'user_context', 'context')
    if (value === undefined) {
      return inputRequired({ inputRequests: { user_context: elicit('What context should the prompt use?', 'context') } }) as unknown as GetPromptResult
    }
    return { messages: [{ role: 'user', content: { type: 'text', text: `Prompt with context: ${value}` } }] }
  }
  return {
    prompt: { name: 'test_input_required_result_prompt', description: 'MRTR: prompt that requires elicitation input' },
    get
  }
}

import { LOG_LEVEL_META_KEY, MissingRequiredClientCapabilityError } from '@modelcontextprotocol/server'
import type { CallToolResult, ServerContext, Tool } from '@modelcontextprotocol/server'
import { completionsFor, uriTemplateMatcher } from '../../src/mcp/surface.ts'
import type { McpSurface, SurfacePrompt, SurfaceResource, SurfaceTemplate, SurfaceTool } from '../../src/mcp/surface.ts'
import { declaredCapabilities, inputRequiredPrompt, inputRequiredTools } from './fixture-mrtr.ts'

/**
 * The conformance suite's fixture: the tools, resources and prompts its scenarios call by name
 * (the names and payloads of the suite's reference "everything" server,
 * modelcontextprotocol/conformance examples/servers/typescript/everything-server.ts). It is
 * registered only in the conformance fixture server, through buildApp's `surface` option, so
 * the suite exercises the real stack (auth, cache, size guard, Host/Origin checks) without
 * these entries ever reaching the service.
 */

/** A 1×1 red PNG. */
export const TEST_IMAGE_BASE64 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=='
/** A minimal WAV file. */
const TEST_AUDIO_BASE64 = 'UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA='

const NO_ARGUMENTS: Tool['inputSchema'] = { type: 'object', properties: {} }

function text (value: string): CallToolResult {
  return { content: [{ type: 'text', text: value }] }
}

const sleep = async (ms: number): Promise<void> => await new Promise(resolve => setTimeout(resolve, ms))

/** A tool with no arguments whose result does not depend on the request. */
function constantTool (name: string, description: string, result: CallToolResult): SurfaceTool {
  return { listing: { name, description, inputSchema: NO_ARGUMENTS }, call: () => result }
}

const contentTools: SurfaceTool[] = [
  constantTool('test_simple_text', 'Tests simple text content response', text('This is a simple text response for testing.')),
  constantTool('test_image_content', 'Tests image content response', {
    content: [{ type: 'image', data: TEST_IMAGE_BASE64, mimeType: 'image/png' }]
  }),
  constantTool('test_audio_content', 'Tests audio content response', {
    content: [{ type: 'audio', data: TEST_AUDIO_BASE64, mimeType: 'audio/wav' }]
  }),
  constantTool('test_embedded_resource', 'Tests embedded resource content response', {
    content: [{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }]
  }),
  constantTool('test_multiple_content_types', 'Tests response with multiple content types (text, image, resource)', {
    content: [
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: TEST_IMAGE_BASE64, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: JSON.stringify({ test: 'data', value: 123 }) } }
    ]
  }),
  constantTool('test_error_handling', 'Tests error response handling', {
    isError: true,
    content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }]
  }),
  // SEP-1699 (server-sse-polling) closes the call's SSE stream mid-call; a stateless server keeps
  // no event store to resume from, so it answers at once (as JSON) and the scenario reports so.
  constantTool('test_reconnection', 'Tests SSE stream disconnection and client reconnection (SEP-1699)', text('Reconnection test completed successfully.'))
]

const notificationTools: SurfaceTool[] = [
  {
    listing: { name: 'test_tool_with_logging', description: 'Tests tool that emits log messages during execution', inputSchema: NO_ARGUMENTS },
    async call (_args, context) {
      for (const message of ['Tool execution started', 'Tool processing data', 'Tool execution completed']) {
        await context.mcpReq.log('info', message)
        await sleep(50)
      }
      return text('Tool with logging executed successfully')
    }
  },
  {
    listing: { name: 'test_tool_with_progress', description: 'Tests tool that reports progress notifications', inputSchema: NO_ARGUMENTS },
    async call (_args, context) {
      const progressToken = context.mcpReq._meta?.progressToken ?? 0
      for (const progress of [0, 50, 100]) {
        await context.mcpReq.notify({
          method: 'notifications/progress',
          params: { progressToken, progress, total: 100, message: `Completed step ${progress} of 100` }
        })
        if (progress < 100) await sleep(50)
      }
      return text(String(progressToken))
    }
  }
]

/** How long a legacy server→client request may wait for an answer that cannot come statelessly. */
const CLIENT_REQUEST_TIMEOUT_MS = 2000

function unreachable (what: string, error: unknown): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: `${what} not supported or error: ${error instanceof Error ? error.message : String(error)}` }] }
}

/** Legacy (2025-era) server→client requests: sampling and elicitation pushed to the client. */
const clientRequestTools: SurfaceTool[] = [
  {
    listing: {
      name: 'test_sampling',
      description: 'Tests server-initiated sampling (LLM completion request)',
      inputSchema: { type: 'object', properties: { prompt: { type: 'string', description: 'The prompt to send to the LLM' } }, required: ['prompt'] }
    },
    async call (args, context) {
      try {
        const result = await context.mcpReq.requestSampling({
          messages: [{ role: 'user', content: { type: 'text', text: String(args.prompt) } }],
          maxTokens: 100
        }, { timeout: CLIENT_REQUEST_TIMEOUT_MS })
        const content = Array.isArray(result.content) ? result.content[0] : result.content
        return text(`LLM response: ${content?.type === 'text' ? content.text : 'No response'}`)
      } catch (error) {
        return unreachable('Sampling', error)
      }
    }
  },
  elicitationTool('test_elicitation', 'Tests server-initiated elicitation (user input request)', args => ({
    message: String(args.message),
    requestedSchema: { type: 'object', properties: { response: { type: 'string', description: 'User\'s response' } }, required: ['response'] }
  }), { type: 'object', properties: { message: { type: 'string', description: 'The message to show the user' } }, required: ['message'] }),
  elicitationTool('test_elicitation_sep1034_defaults', 'Tests elicitation with default values per SEP-1034', () => ({
    message: 'Please review and update the form fields with defaults',
    requestedSchema: {
      type: 'object',
      properties: {
        name: { type: 'string', description: 'User name', default: 'John Doe' },
        age: { type: 'integer', description: 'User age', default: 30 },
        score: { type: 'number', description: 'User score', default: 95.5 },
        status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
        verified: { type: 'boolean', description: 'Verification status', default: true }
      },
      required: []
    }
  })),
  elicitationTool('test_elicitation_sep1330_enums', 'Tests elicitation with enum schema improvements per SEP-1330', () => ({
    message: 'Please select options from the enum fields',
    requestedSchema: {
      type: 'object',
      properties: {
        untitledSingle: { type: 'string', description: 'Select one option', enum: ['option1', 'option2', 'option3'] },
        titledSingle: {
          type: 'string',
          description: 'Select one option with titles',
          oneOf: [{ const: 'value1', title: 'First Option' }, { const: 'value2', title: 'Second Option' }, { const: 'value3', title: 'Third Option' }]
        },
        legacyEnum: { type: 'string', description: 'Select one option (legacy)', enum: ['opt1', 'opt2', 'opt3'], enumNames: ['Option One', 'Option Two', 'Option Three'] },
        untitledMulti: { type: 'array', description: 'Select multiple options', minItems: 1, maxItems: 3, items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
        titledMulti: {
          type: 'array',
          description: 'Select multiple options with titles',
          minItems: 1,
          maxItems: 3,
          items: { anyOf: [{ const: 'value1', title: 'First Choice' }, { const: 'value2', title: 'Second Choice' }, { const: 'value3', title: 'Third Choice' }] }
        }
      },
      required: []
    }
  }))
]

type ElicitParams = Parameters<ServerContext['mcpReq']['elicitInput']>[0]

function elicitationTool (name: string, description: string, params: (args: Record<string, unknown>) => ElicitParams, inputSchema: Tool['inputSchema'] = NO_ARGUMENTS): SurfaceTool {
  return {
    listing: { name, description, inputSchema },
    async call (args, context) {
      try {
        const result = await context.mcpReq.elicitInput(params(args), { timeout: CLIENT_REQUEST_TIMEOUT_MS })
        return text(`Elicitation completed: action=${result.action}, content=${JSON.stringify(result.content ?? {})}`)
      } catch (error) {
        return unreachable('Elicitation', error)
      }
    }
  }
}

/**
 * SEP-1613/SEP-2106: an input schema with the JSON Schema 2020-12 vocabulary, listed as it is.
 * Surface tools bypass the Toolset's portable-subset rewrite, so this checks that the rest of
 * the stack (tools/list, the cache hints, the transport) passes it through untouched.
 */
const JSON_SCHEMA_2020_12_INPUT_SCHEMA: Tool['inputSchema'] = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: {
    address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } }
  },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' }
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false
}

const schemaTools: SurfaceTool[] = [{
  listing: { name: 'json_schema_2020_12_tool', description: 'Tool with JSON Schema 2020-12 features for conformance testing (SEP-1613)', inputSchema: JSON_SCHEMA_2020_12_INPUT_SCHEMA },
  call: args => text(`JSON Schema 2020-12 tool called with: ${JSON.stringify(args)}`)
}]

/** Diagnostic tools of the 2026-07-28 scenarios (server-stateless, http-custom-header-server-validation). */
function modernDiagnosticTools (options: ConformanceSurfaceOptions): SurfaceTool[] {
  return [
    {
      listing: { name: 'test_trigger_tool_change', description: 'Announces a change of the tool list to open subscriptions/listen streams', inputSchema: NO_ARGUMENTS },
      async call () {
        await options.announceAccessChange()
        return text('Mutation triggered')
      }
    },
    {
      listing: {
        name: 'test_custom_headers',
        description: 'Echoes an argument that clients also send as the Mcp-Param-Region header (SEP-2243)',
        inputSchema: { type: 'object', properties: { region: { type: 'string', description: 'Any text', 'x-mcp-header': 'Region' } }, required: ['region'] }
      },
      call: args => text(`region=${String(args.region)}`)
    },
    {
      listing: { name: 'test_missing_capability', description: 'Test tool requiring sampling', inputSchema: NO_ARGUMENTS },
      call (_args, context) {
        if (declaredCapabilities(context)?.sampling === undefined) throw new MissingRequiredClientCapabilityError({ requiredCapabilities: { sampling: {} } })
        return text('Success')
      }
    },
    {
      listing: { name: 'test_streaming_elicitation', description: 'Diagnostic tool validating response progress streams', inputSchema: NO_ARGUMENTS },
      async call (_args, context) {
        const progressToken = context.mcpReq._meta?.progressToken
        if (progressToken !== undefined) await context.mcpReq.notify({ method: 'notifications/progress', params: { progressToken, progress: 50, total: 100 } })
        return text('Streaming complete')
      }
    },
    {
      listing: { name: 'test_logging_tool', description: 'Diagnostic logging validator tool', inputSchema: NO_ARGUMENTS },
      async call (_args, context) {
        const envelope: Readonly<Record<string, unknown>> | undefined = context.mcpReq.envelope
        // 2026-07-28: no notifications/message unless the request set a log level.
        if (envelope?.[LOG_LEVEL_META_KEY] !== undefined) {
          await context.mcpReq.log('info', 'Diagnostic trace logging activated')
        }
        return text('Logging evaluated')
      }
    }
  ]
}

const resources: SurfaceResource[] = [
  {
    resource: { uri: 'test://static-text', name: 'static-text', title: 'Static Text Resource', description: 'A static text resource for testing', mimeType: 'text/plain' },
    read: uri => ({ contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] })
  },
  {
    resource: { uri: 'test://static-binary', name: 'static-binary', title: 'Static Binary Resource', description: 'A static binary resource (image) for testing', mimeType: 'image/png' },
    read: uri => ({ contents: [{ uri, mimeType: 'image/png', blob: TEST_IMAGE_BASE64 }] })
  },
  {
    resource: { uri: 'test://watched-resource', name: 'watched-resource', title: 'Watched Resource', description: 'A resource that changes over time', mimeType: 'text/plain' },
    read: uri => ({ contents: [{ uri, mimeType: 'text/plain', text: 'Watched resource content' }] })
  }
]

const TEMPLATE_URI = 'test://template/{id}/data'

const templates: SurfaceTemplate[] = [{
  template: { uriTemplate: TEMPLATE_URI, name: 'template', title: 'Resource Template', description: 'A resource template with parameter substitution', mimeType: 'application/json' },
  match: uriTemplateMatcher(TEMPLATE_URI),
  read: async (uri, { id }) => ({
    contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }]
  }),
  complete: (variable, value) => variable === 'id' ? completionsFor(['1', '2', '3', '123'], value) : []
}]

const prompts: SurfacePrompt[] = [
  {
    prompt: { name: 'test_simple_prompt', title: 'Simple Test Prompt', description: 'A simple prompt without arguments' },
    get: () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'This is a simple prompt for testing.' } }] })
  },
  {
    prompt: {
      name: 'test_prompt_with_arguments',
      title: 'Prompt With Arguments',
      description: 'A prompt with required arguments',
      arguments: [
        { name: 'arg1', description: 'First test argument', required: true },
        { name: 'arg2', description: 'Second test argument', required: true }
      ]
    },
    get: ({ arg1, arg2 }) => ({ messages: [{ role: 'user', content: { type: 'text', text: `Prompt with arguments: arg1='${arg1 ?? ''}', arg2='${arg2 ?? ''}'` } }] }),
    complete: (_argument, value) => completionsFor(['paris', 'park', 'party', 'test', 'testing'], value)
  },
  {
    prompt: {
      name: 'test_prompt_with_embedded_resource',
      title: 'Prompt With Embedded Resource',
      description: 'A prompt that includes an embedded resource',
      arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }]
    },
    get: ({ resourceUri }) => ({
      messages: [
        { role: 'user', content: { type: 'resource', resource: { uri: resourceUri ?? 'test://static-text', mimeType: 'text/plain', text: 'Embedded resource content for testing.' } } },
        { role: 'user', content: { type: 'text', text: 'Please process the embedded resource above.' } }
      ]
    }),
    complete: (_argument, value) => completionsFor(['test://static-text', 'test://static-binary', 'test://watched-resource'], value)
  },
  {
    prompt: { name: 'test_prompt_with_image', title: 'Prompt With Image', description: 'A prompt that includes image content' },
    get: () => ({
      messages: [
        { role: 'user', content: { type: 'image', data: TEST_IMAGE_BASE64, mimeType: 'image/png' } },
        { role: 'user', content: { type: 'text', text: 'Please analyze the image above.' } }
      ]
    })
  }
]

export interface ConformanceSurfaceOptions {
  /**
   * Announce a change of what principals may use, the way a catalog change does (cluster
   * events): open subscriptions/listen streams then hear notifications/tools/list_changed.
   */
  announceAccessChange: () => Promise<void>
}

/** Everything the conformance scenarios call, for buildApp's `surface` option. */
export function conformanceSurface (options: ConformanceSurfaceOptions): McpSurface {
  return {
    resources,
    templates,
    prompts: [...prompts, inputRequiredPrompt()],
    tools: [...contentTools, ...notificationTools, ...clientRequestTools, ...schemaTools, ...modernDiagnosticTools(options), ...inputRequiredTools()]
  }
}

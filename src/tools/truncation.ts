import * as z from 'zod'

/** In the output of tools the response size guard may shorten: present only when it did. */
export const responseTruncationSchema = z.object({
  returned: z.int().describe('items in this response'),
  available: z.int().describe('items the full response held'),
  estimated_tokens: z.int().describe('estimated tokens of the full response'),
  token_limit: z.int(),
  hint: z.string().describe('how to ask for less')
}).optional().describe('set when the response was shortened to fit the context budget (MCP_RESPONSE_SIZE_CONFIG)')

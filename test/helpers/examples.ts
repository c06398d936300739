import os from 'node:os'
import path from 'node:path'
import { ensureExamplesDatabase, GENERATOR_VERSION } from '../../src/examples/generate.ts'

/**
 * One example database shared by every test process (generated on first use, atomically
 * renamed into place). Tests only read it; a test that needs to write copies it.
 */
export function sharedExamplesFile (): string {
  const file = path.join(os.tmpdir(), 'analytics-mcp-tests', `examples-v${GENERATOR_VERSION}.db`)
  ensureExamplesDatabase(file)
  return file
}

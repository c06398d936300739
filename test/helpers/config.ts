import { resolveConfig } from '../../src/config.ts'
import type { Config } from '../../src/config.ts'
import { sharedExamplesFile } from './examples.ts'

/** A config for tests: a private data directory, the shared example data, a random port, no logs. */
export function testConfig (dataDir: string, settings: Record<string, unknown> = {}): Config {
  return resolveConfig([{
    source: 'overrides',
    values: {
      MCP_DATA_DIR: dataDir,
      MCP_EXAMPLES_PATH: sharedExamplesFile(),
      MCP_SERVICE_PORT: 0,
      MCP_LOG_LEVEL: 'silent',
      // Off: several apps share one test process, and one app's synchronous start-up (seconds on
      // a loaded 2-core machine) stalls the others' event loop. test/load-shedding.test.ts
      // checks shedding with its own bound.
      MCP_EVENT_LOOP_MAX_DELAY_MS: 0,
      ...settings
    }
  }])
}

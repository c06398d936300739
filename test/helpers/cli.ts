import { main } from '../../src/cli.ts'

/** Run the CLI in-process with captured output, as an administrator would run it. */
export async function cli (argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number, out: string, err: string }> {
  const out: string[] = []
  const err: string[] = []
  const code = await main(argv, { out: line => out.push(line), err: line => err.push(line), env, cwd: env.MCP_DATA_DIR ?? process.cwd() })
  return { code, out: out.join('\n'), err: err.join('\n') }
}

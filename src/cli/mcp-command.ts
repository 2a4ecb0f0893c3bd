/**
 * `harmonia mcp`: Harmonia as an MCP server on stdio, over the embedded store chosen by the usual flags,
 * environment and config file (the engine runs in this process, so executions started by a client run
 * here). stdout carries only the protocol; logs go to stderr. Ends when the client closes stdin.
 */
import type { Command } from 'commander'
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js'
import packageJson from '../../package.json' with { type: 'json' }
import { createHarmoniaMcpServer } from '../mcp/mcp-server.ts'
import { ExitCode, type CliIo, type CommandRunner, type GlobalFlags } from './cli-io.ts'
import { openHarmonia } from './execution-watch.ts'
import { loadConfig } from './load-config.ts'

export async function mcpCommand(flags: GlobalFlags, io: CliIo): Promise<ExitCode> {
  const config = await loadConfig({ cwd: io.cwd, env: io.env, flags })
  const harmonia = await openHarmonia(config, io)
  await harmonia.start()
  const server = createHarmoniaMcpServer(harmonia, { version: packageJson.version })
  const transport = new StdioServerTransport()
  const closed = new Promise<void>((resolve) => {
    transport.onclose = () => resolve()
    process.stdin.once('end', () => resolve())
    process.once('SIGINT', () => resolve())
    process.once('SIGTERM', () => resolve())
  })
  await server.connect(transport)
  harmonia.logger.info('mcp server ready on stdio', { dataDir: config.dataDir })
  await closed
  await server.close().catch(() => {})
  await harmonia.close()
  return ExitCode.ok
}

export function registerMcpCommand(program: Command, io: CliIo, done: CommandRunner): Command {
  return program
    .command('mcp')
    .description('Serve the MCP tools and resources on stdio (for AI agents), over the embedded store')
    .action((_options: unknown, command: Command) =>
      done(() => mcpCommand(command.optsWithGlobals<GlobalFlags>(), io)),
    )
}

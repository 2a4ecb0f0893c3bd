/**
 * `harmonia serve`: the API server (also `npm start`). Configuration comes from, by precedence: these flags,
 * `HARMONIA_*` environment variables, the config file (`--config`, or `harmonia.config.json` /
 * `harmonia.config.yaml` / `harmonia.config.yml` in the working directory), then the defaults.
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { Command } from 'commander'
import { parse as parseYaml } from 'yaml'
import { resolveConfig, type ConfigOverrides, type HarmoniaConfig } from '../core/config.ts'
import { HarmoniaError, ValidationError, formatIssue } from '../core/errors.ts'
import { startServer } from '../api/server.ts'

const DEFAULT_CONFIG_FILES = ['harmonia.config.json', 'harmonia.config.yaml', 'harmonia.config.yml']
const STORAGE_KINDS = ['memory', 'file', 'sqlite', 'postgres'] as const
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const

export interface ServeFlags {
  host?: string
  port?: string
  storage?: string
  dataDir?: string
  databaseUrl?: string
  config?: string
  logLevel?: string
  /** Commander's `--no-auth`: false when given. */
  auth?: boolean
}

/** Reads the config file named by `--config`, or the first default one in `cwd`; undefined when none. */
export async function loadConfigFile(explicit: string | undefined, cwd: string): Promise<unknown> {
  const file =
    explicit === undefined
      ? DEFAULT_CONFIG_FILES.map((name) => path.join(cwd, name)).find((candidate) => existsSync(candidate))
      : path.resolve(cwd, explicit)
  if (file === undefined) return undefined
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (error) {
    throw new HarmoniaError('invalid_request', `cannot read config file ${file}: ${(error as Error).message}`)
  }
  try {
    return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  } catch (error) {
    throw new HarmoniaError(
      'invalid_request',
      `config file ${file} is not valid: ${(error as Error).message}`,
    )
  }
}

/** Turns the flags into config overrides, rejecting values that are not what each flag expects. */
export function flagsToOverrides(flags: ServeFlags): ConfigOverrides {
  const overrides: ConfigOverrides = {}
  const server: NonNullable<ConfigOverrides['server']> = {}
  const storage: NonNullable<ConfigOverrides['storage']> = {}
  if (flags.host !== undefined) server.host = flags.host
  if (flags.port !== undefined) {
    const port = Number(flags.port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new HarmoniaError('invalid_request', `--port '${flags.port}' is not a port number (0 to 65535)`)
    }
    server.port = port
  }
  if (flags.auth === false) server.noAuth = true
  if (flags.storage !== undefined) {
    if (!(STORAGE_KINDS as readonly string[]).includes(flags.storage)) {
      throw new HarmoniaError(
        'invalid_request',
        `--storage '${flags.storage}' is not one of ${STORAGE_KINDS.join(', ')}`,
      )
    }
    storage.kind = flags.storage as HarmoniaConfig['storage']['kind']
  }
  if (flags.databaseUrl !== undefined) storage.databaseUrl = flags.databaseUrl
  if (flags.dataDir !== undefined) overrides.dataDir = flags.dataDir
  if (flags.logLevel !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(flags.logLevel)) {
      throw new HarmoniaError(
        'invalid_request',
        `--log-level '${flags.logLevel}' is not one of ${LOG_LEVELS.join(', ')}`,
      )
    }
    overrides.log = { level: flags.logLevel as HarmoniaConfig['log']['level'] }
  }
  if (Object.keys(server).length > 0) overrides.server = server
  if (Object.keys(storage).length > 0) overrides.storage = storage
  return overrides
}

export function registerServeCommand(program: Command): Command {
  return program
    .command('serve')
    .description('Run the Harmonia API server (REST, WebSocket, SSE, OpenAPI docs at /docs)')
    .option('--host <host>', 'address to listen on (default 127.0.0.1, HARMONIA_HOST)')
    .option('--port <port>', 'port to listen on; 0 picks a free one (default 8002, HARMONIA_PORT)')
    .option('--storage <kind>', `store: ${STORAGE_KINDS.join(', ')} (default sqlite, HARMONIA_STORAGE)`)
    .option('--data-dir <dir>', 'where embedded stores keep their files (default .harmonia)')
    .option('--database-url <url>', 'PostgreSQL connection string (HARMONIA_DATABASE_URL)')
    .option('--config <file>', 'config file (default harmonia.config.json or .yaml in this directory)')
    .option('--log-level <level>', `log level: ${LOG_LEVELS.join(', ')} (default info)`)
    .option('--no-auth', 'allow listening on a non-loopback address without API keys')
    .action(async (flags: ServeFlags) => {
      const cwd = process.cwd()
      try {
        const config = resolveConfig({
          file: await loadConfigFile(flags.config, cwd),
          env: process.env,
          flags: flagsToOverrides(flags),
        })
        await startServer(config, { env: process.env, cwd, handleSignals: true })
      } catch (error) {
        process.stderr.write(`harmonia serve: ${describeFailure(error)}\n`)
        process.exit(1)
      }
    })
}

function describeFailure(error: unknown): string {
  if (error instanceof ValidationError && error.issues.length > 0) {
    return `invalid configuration:\n${error.issues.map((issue) => `  - ${formatIssue(issue)}`).join('\n')}`
  }
  if (error instanceof Error) return error.message
  return String(error)
}

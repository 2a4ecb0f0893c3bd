/**
 * The CLI's configuration: the config file (`--config`, or `harmonia.config.json|yaml|yml` in the working
 * directory), `HARMONIA_*` environment variables and flags, resolved by `resolveConfig` with the usual
 * precedence (flags, environment, file, defaults). Commands run in a terminal log warnings and errors only
 * unless a log level is set anywhere.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { resolveConfig, type ConfigOverrides, type HarmoniaConfig } from '../core/config.ts'
import { InvalidRequestError } from '../core/errors.ts'
import { describeFsError } from './input-args.ts'

export const CONFIG_FILE_NAMES = [
  'harmonia.config.json',
  'harmonia.config.yaml',
  'harmonia.config.yml',
] as const

/** Log level of CLI commands when neither flag, environment nor file sets one. */
export const CLI_DEFAULT_LOG_LEVEL = 'warn'

export interface ConfigFlags {
  config?: string
  dataDir?: string
  storage?: string
  logLevel?: string
}

/**
 * Reads the config file named by `explicit`, or the first of CONFIG_FILE_NAMES found in `cwd`.
 * Answers undefined when there is none; throws InvalidRequestError when it cannot be read or parsed.
 */
export async function readConfigFile(explicit: string | undefined, cwd: string): Promise<unknown> {
  const candidates =
    explicit === undefined
      ? CONFIG_FILE_NAMES.map((name) => path.join(cwd, name))
      : [path.resolve(cwd, explicit)]
  for (const file of candidates) {
    let text: string
    try {
      text = await readFile(file, 'utf8')
    } catch (error) {
      if (explicit === undefined && (error as { code?: string }).code === 'ENOENT') continue
      throw new InvalidRequestError(`cannot read config file '${file}': ${describeFsError(error)}`)
    }
    try {
      return file.endsWith('.json') ? JSON.parse(text) : parseYaml(text)
    } catch (error) {
      throw new InvalidRequestError(
        `config file '${file}' is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(error as Error).message.split('\n')[0]}`,
      )
    }
  }
  return undefined
}

/** Config overrides from the CLI's flags; resolveConfig reports values that are not allowed. */
export function configFlagsToOverrides(flags: ConfigFlags): ConfigOverrides {
  const overrides: ConfigOverrides = {}
  if (flags.dataDir !== undefined) overrides.dataDir = flags.dataDir
  if (flags.storage !== undefined) {
    overrides.storage = { kind: flags.storage as HarmoniaConfig['storage']['kind'] }
  }
  if (flags.logLevel !== undefined) {
    overrides.log = { level: flags.logLevel as HarmoniaConfig['log']['level'] }
  }
  return overrides
}

/** Resolves the configuration of one CLI command. Throws ValidationError listing every problem. */
export async function loadConfig(options: {
  cwd: string
  env: Record<string, string | undefined>
  flags: ConfigFlags
}): Promise<Readonly<HarmoniaConfig>> {
  const file = await readConfigFile(options.flags.config, options.cwd)
  return resolveConfig({
    file: withCliDefaults(file),
    env: options.env,
    flags: configFlagsToOverrides(options.flags),
  })
}

/** The CLI's own defaults sit under the file's values (and so under environment and flags too). */
function withCliDefaults(file: unknown): unknown {
  if (file !== undefined && (typeof file !== 'object' || file === null || Array.isArray(file))) return file
  const given = (file ?? {}) as Record<string, unknown>
  const log = given['log']
  if (log !== undefined && (typeof log !== 'object' || log === null || 'level' in log)) return file
  return { ...given, log: { ...(log as object | undefined), level: CLI_DEFAULT_LOG_LEVEL } }
}

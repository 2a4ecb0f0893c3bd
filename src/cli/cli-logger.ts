/**
 * The CLI's logger: one readable line per entry on stderr (`12:00:01 warn could not renew leases
 * error="..."`), at or above the configured level, so logs never mix with the JSON a command prints.
 */
import type { HarmoniaConfig } from '../core/config.ts'
import type { Logger } from '../core/logger.ts'
import type { Output } from './cli-io.ts'
import { clockTime } from './text-format.ts'

type Level = 'debug' | 'info' | 'warn' | 'error'

const RANK: Record<HarmoniaConfig['log']['level'], number> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
  silent: 100,
}

export function createCliLogger(
  level: HarmoniaConfig['log']['level'],
  output: Output,
  fields: Record<string, unknown> = {},
): Logger {
  const threshold = RANK[level]
  const entry =
    (name: Level) =>
    (message: string, extra?: Record<string, unknown>): void => {
      if (RANK[name] < threshold) return
      const all = { ...fields, ...extra }
      const data = Object.entries(all)
        .filter(([, value]) => value !== undefined)
        .map(([key, value]) => ` ${key}=${formatValue(value)}`)
        .join('')
      output.write(`${clockTime(Date.now())} ${name} ${message}${data}\n`)
    }
  return {
    debug: entry('debug'),
    info: entry('info'),
    warn: entry('warn'),
    error: entry('error'),
    child: (more) => createCliLogger(level, output, { ...fields, ...more }),
  }
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return /^[\w.:/@-]+$/.test(value) ? value : JSON.stringify(value)
  if (value instanceof Error) return JSON.stringify(value.message)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

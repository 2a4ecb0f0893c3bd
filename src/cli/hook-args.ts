/**
 * What `harmonia webhooks`, `subscriptions` and `triggers` share: `--map name=<expression>` pairs, a JSON
 * `--payload`, `--limit`, and the `field: value` lines their `get` prints. A bad value throws
 * InvalidRequestError naming the option (the command runner prints it and exits 2).
 */
import { InvalidRequestError } from '../core/errors.ts'
import type { JsonValue } from '../core/model.ts'

const INPUT_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/**
 * `--map name=<expression>` pairs as an input mapping: input name → the text after the first `=`, kept as
 * written (`${payload.user.id}`, `payload.user.id`, or a literal); undefined when none was given.
 */
export function mappingOf(pairs: readonly string[] | undefined): Record<string, string> | undefined {
  if (pairs === undefined || pairs.length === 0) return undefined
  const mapping: Record<string, string> = {}
  for (const pair of pairs) {
    const equals = pair.indexOf('=')
    const name = equals < 0 ? pair : pair.slice(0, equals)
    if (equals <= 0 || !INPUT_NAME.test(name) || FORBIDDEN_KEYS.has(name)) {
      throw new InvalidRequestError(
        `--map '${pair}' is not name=<expression> with an input name (for example --map 'user=\${payload.user.id}')`,
      )
    }
    mapping[name] = pair.slice(equals + 1)
  }
  return mapping
}

/** `--payload <json>`: any JSON value; `{}` when not given. */
export function payloadOf(text: string | undefined): JsonValue {
  if (text === undefined) return {}
  try {
    return JSON.parse(text) as JsonValue
  } catch (error) {
    throw new InvalidRequestError(`--payload is not valid JSON: ${(error as Error).message}`)
  }
}

/** `--limit <n>`: a whole number from 1 to `max` (the server's page limit); undefined when not given. */
export function limitOf(text: string | undefined, max = 500): number | undefined {
  if (text === undefined) return undefined
  const value = Number(text)
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidRequestError(`--limit '${text}' is not a whole number from 1 to ${max}`)
  }
  return value
}

/** `label: value` lines, the values aligned; rows whose value is undefined are left out. */
export function formatFields(rows: ReadonlyArray<readonly [string, string | undefined]>): string {
  const shown = rows.filter((row): row is readonly [string, string] => row[1] !== undefined)
  const width = Math.max(...shown.map(([label]) => label.length)) + 1
  return shown.map(([label, value]) => `${`${label}:`.padEnd(width)} ${value}\n`).join('')
}

/** An input mapping as `name=expression` text, or `-` when empty. */
export function mappingText(mapping: Record<string, JsonValue | undefined> | null | undefined): string {
  const entries = Object.entries(mapping ?? {})
  if (entries.length === 0) return '-'
  return entries
    .map(([name, value]) => `${name}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
    .join(', ')
}

/**
 * A workflow's input from the command line: `--input-file f.json|f.yaml` gives an object, and each
 * `--input key=value` sets one value over it. A value is parsed as JSON when it is JSON (`3`, `true`,
 * `null`, `[1,2]`, `{"a":1}`, `"quoted"`), else kept as text, and always kept as text for a field the
 * workflow declares a string; a dotted key (`a.b=1`) builds nested objects.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { parse as parseYaml } from 'yaml'
import { InvalidRequestError } from '../core/errors.ts'
import { buildInputSchema } from '../core/input-schema.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'

const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype'])

/** Parses one `--input` value: JSON when it parses as JSON, else the text itself. */
export function parseInputValue(text: string): JsonValue {
  try {
    return JSON.parse(text) as JsonValue
  } catch {
    return text
  }
}

/**
 * Applies `key=value` pairs over `base` (not modified) and answers the result. Later pairs win; setting a
 * key below one that holds a non-object value is an error, as is an empty or reserved key segment. With the
 * workflow's input `schema`, a value whose field is declared a string stays the text typed (`version=2.0`
 * is "2.0", not 2).
 */
export function applyInputPairs(
  pairs: readonly string[],
  base: JsonObject = {},
  schema?: JsonObject,
): JsonObject {
  const input = structuredClone(base)
  for (const pair of pairs) {
    const equals = pair.indexOf('=')
    if (equals <= 0) {
      throw new InvalidRequestError(
        `--input '${pair}' is not key=value (for example --input name=Ada or --input retries=3)`,
      )
    }
    const key = pair.slice(0, equals)
    const segments = key.split('.')
    for (const segment of segments) {
      if (segment === '') {
        throw new InvalidRequestError(`--input '${key}' has an empty key segment (write a.b=1, not a..b=1)`)
      }
      if (FORBIDDEN_KEYS.has(segment)) {
        throw new InvalidRequestError(`--input '${key}' uses the reserved name '${segment}'`)
      }
    }
    let target: JsonObject = input
    for (let i = 0; i < segments.length - 1; i++) {
      const segment = segments[i]!
      const existing = Object.hasOwn(target, segment) ? target[segment] : undefined
      if (existing === undefined) {
        const child: JsonObject = {}
        target[segment] = child
        target = child
      } else if (isObject(existing)) {
        target = existing
      } else {
        throw new InvalidRequestError(
          `--input '${key}': '${segments.slice(0, i + 1).join('.')}' is already set to ${JSON.stringify(existing)}, not an object`,
        )
      }
    }
    const text = pair.slice(equals + 1)
    target[segments.at(-1)!] = declaredString(schema, segments) ? text : parseInputValue(text)
  }
  return input
}

/** True when the schema declares the field at `segments` (through nested `properties`) a string. */
function declaredString(schema: JsonObject | undefined, segments: readonly string[]): boolean {
  let node: JsonValue | undefined = schema
  for (const segment of segments) {
    const properties: JsonValue | undefined = isObject(node) ? node['properties'] : undefined
    node = isObject(properties) && Object.hasOwn(properties, segment) ? properties[segment] : undefined
    if (node === undefined) return false
  }
  return isObject(node) && node['type'] === 'string'
}

/** Reads an input file: JSON (`.json`) or YAML (`.yaml`, `.yml`, or any other name); it must hold an object. */
export async function readInputFile(file: string, cwd: string): Promise<JsonObject> {
  const resolved = path.resolve(cwd, file)
  let text: string
  try {
    text = await readFile(resolved, 'utf8')
  } catch (error) {
    throw new InvalidRequestError(`cannot read input file '${file}': ${describeFsError(error)}`)
  }
  let value: unknown
  try {
    value = file.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text)
  } catch (error) {
    const kind = file.toLowerCase().endsWith('.json') ? 'JSON' : 'YAML'
    throw new InvalidRequestError(
      `input file '${file}' is not valid ${kind}: ${(error as Error).message.split('\n')[0]}`,
    )
  }
  if (!isObject(value)) {
    throw new InvalidRequestError(
      `input file '${file}' must hold an object of input values, got ${value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value}`,
    )
  }
  return value
}

/** The input of `--input-file` (when given) with the `--input` pairs applied over it (see applyInputPairs). */
export async function buildInput(options: {
  pairs?: readonly string[]
  file?: string
  cwd: string
  schema?: JsonObject
}): Promise<JsonObject> {
  const base = options.file === undefined ? {} : await readInputFile(options.file, options.cwd)
  return applyInputPairs(options.pairs ?? [], base, options.schema)
}

/** The input schema a definition (or a workflow as the server answers it) declares, when it declares one. */
export function declaredInputSchema(definition: unknown): JsonObject | undefined {
  if (!isObject(definition)) return undefined
  return buildInputSchema(definition as Parameters<typeof buildInputSchema>[0]).schema
}

/** Commander's parser of a repeatable option (`--input a=1 --input b=2`): every value, in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value]
}

/** `ENOENT: no such file...` → `no such file or directory`. */
export function describeFsError(error: unknown): string {
  const code = (error as { code?: string }).code
  if (code === 'ENOENT') return 'no such file'
  if (code === 'EISDIR') return 'it is a directory'
  if (code === 'EACCES') return 'permission denied'
  return (error as Error).message
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

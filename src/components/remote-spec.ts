/**
 * A remote component's registration as written by people and machines: an API body, a config entry, a
 * stored document, or Hermes' listing. Parsed and checked here, every problem reported at once.
 */
import type { ActionDescriptor } from '../core/component.ts'
import { ValidationError, type ValidationIssue } from '../core/errors.ts'
import type { JsonObject } from '../core/model.ts'
import type { HermesComponent } from './hermes-client.ts'
import type { RemoteComponentSpec, RemoteSource } from './remote-component.ts'

const COMPONENT_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/

/**
 * A remote component's registration from an API body or a config entry: `name`, `base_url`, optional
 * `description`, `actions` (a list of `{name, description, input_schema, output_schema}` or a map by name),
 * `timeout_ms`, `max_concurrency`, `failure_threshold`, `cool_down_ms`. Every problem is reported at once.
 */
export function parseSpec(body: unknown, source: RemoteSource, where: string): RemoteComponentSpec {
  const issues: ValidationIssue[] = []
  const field = (name: string): string => (where === 'body' ? name : `${where}.${name}`)
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new ValidationError('invalid remote component', [{ field: where, message: 'expected an object' }])
  }
  const raw = body as Record<string, unknown>
  const name = raw.name
  if (typeof name !== 'string' || !COMPONENT_NAME.test(name)) {
    issues.push({
      field: field('name'),
      message: `expected a name that starts with a letter and holds only letters, digits, '_' and '-' (at most 64), got ${JSON.stringify(name)}`,
    })
  }
  let baseUrl = ''
  try {
    baseUrl = checkBaseUrl(raw.base_url)
  } catch (error) {
    issues.push({ field: field('base_url'), message: (error as Error).message })
  }
  if (raw.description !== undefined && typeof raw.description !== 'string') {
    issues.push({ field: field('description'), message: 'expected a string' })
  }
  const limits: Array<[string, number, number]> = [
    ['timeout_ms', 1, 3_600_000],
    ['max_concurrency', 1, 10_000],
    ['failure_threshold', 1, 1_000],
    ['cool_down_ms', 1, 3_600_000],
  ]
  const numbers: Record<string, number> = {}
  for (const [key, min, max] of limits) {
    const value = raw[key]
    if (value === undefined) continue
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      issues.push({
        field: field(key),
        message: `expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`,
      })
    } else {
      numbers[key] = value
    }
  }
  const actions = parseActions(raw.actions, field('actions'), issues)
  if (issues.length > 0) {
    throw new ValidationError(
      `remote component ${typeof name === 'string' ? `'${name}' ` : ''}cannot be registered`,
      issues,
    )
  }
  return {
    name: name as string,
    base_url: baseUrl,
    ...(typeof raw.description === 'string' ? { description: raw.description } : {}),
    ...(actions === undefined ? {} : { actions }),
    ...numbers,
    source,
  }
}

function parseActions(
  value: unknown,
  field: string,
  issues: ValidationIssue[],
): ActionDescriptor[] | undefined {
  if (value === undefined) return undefined
  const list: Array<[string, unknown]> = Array.isArray(value)
    ? value.map((item, index) => [`${field}[${index}]`, item])
    : value !== null && typeof value === 'object'
      ? Object.entries(value).map(([name, item]) => [`${field}.${name}`, { name, ...(item as object) }])
      : []
  if (!Array.isArray(value) && (value === null || typeof value !== 'object')) {
    issues.push({ field, message: 'expected a list of actions or an object of actions by name' })
    return undefined
  }
  const actions: ActionDescriptor[] = []
  for (const [where, item] of list) {
    const action = typeof item === 'string' ? { name: item } : item
    if (action === null || typeof action !== 'object' || Array.isArray(action)) {
      issues.push({
        field: where,
        message: 'expected an action name or {name, description, input_schema, output_schema}',
      })
      continue
    }
    const { name, description, input_schema, output_schema, ...rest } = action as Record<string, unknown>
    if (typeof name !== 'string' || name === '') {
      issues.push({ field: `${where}.name`, message: 'expected the action name' })
      continue
    }
    const unknown = Object.keys(rest)
    if (unknown.length > 0) issues.push({ field: where, message: `unknown field(s): ${unknown.join(', ')}` })
    if (description !== undefined && typeof description !== 'string') {
      issues.push({ field: `${where}.description`, message: 'expected a string' })
    }
    for (const [key, schema] of [
      ['input_schema', input_schema],
      ['output_schema', output_schema],
    ] as const) {
      if (schema !== undefined && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
        issues.push({ field: `${where}.${key}`, message: 'expected a JSON Schema object' })
      }
    }
    actions.push({
      name,
      ...(typeof description === 'string' ? { description } : {}),
      ...(isObject(input_schema) ? { input_schema } : {}),
      ...(isObject(output_schema) ? { output_schema } : {}),
    })
  }
  return actions
}

/** An absolute http(s) URL without credentials, query or fragment; returned without a trailing slash. */
export function checkBaseUrl(value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new Error('expected an http:// or https:// URL')
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw new Error(`'${value.slice(0, 200)}' is not an absolute URL (expected http://host:port)`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`unsupported scheme '${url.protocol.slice(0, -1)}'; expected http or https`)
  }
  if (url.username !== '' || url.password !== '') {
    throw new Error('must not hold credentials')
  }
  if (url.search !== '' || url.hash !== '') throw new Error('must not hold a query or fragment')
  return url.toString().replace(/\/+$/, '')
}

export function specFromDocument(doc: JsonObject): RemoteComponentSpec | undefined {
  const source = doc.source
  if (source !== 'api' && source !== 'config' && source !== 'hermes') return undefined
  try {
    const spec = parseSpec(
      Object.fromEntries(
        Object.entries(doc).filter(
          ([key]) =>
            ![
              'source',
              'created_at',
              'updated_at',
              'discovered_actions',
              'discovered_at',
              'hermes_capabilities',
            ].includes(key),
        ),
      ),
      source,
      `components document`,
    )
    if (Array.isArray(doc.hermes_capabilities)) {
      spec.hermes_capabilities = doc.hermes_capabilities.filter((c): c is string => typeof c === 'string')
    }
    return spec
  } catch {
    return undefined
  }
}

export function cachedOf(doc: JsonObject): { actions: ActionDescriptor[]; at?: string } | undefined {
  if (!Array.isArray(doc.discovered_actions)) return undefined
  const actions = doc.discovered_actions.filter(
    (a): a is JsonObject => isObject(a) && typeof a.name === 'string',
  ) as unknown as ActionDescriptor[]
  return { actions, ...(typeof doc.discovered_at === 'string' ? { at: doc.discovered_at } : {}) }
}

export function stampsOf(doc: JsonObject, fallback: string): { createdAt: string; updatedAt: string } {
  return {
    createdAt: typeof doc.created_at === 'string' ? doc.created_at : fallback,
    updatedAt: typeof doc.updated_at === 'string' ? doc.updated_at : fallback,
  }
}

export function sameSpec(a: RemoteComponentSpec, b: RemoteComponentSpec): boolean {
  return JSON.stringify(a) === JSON.stringify(b)
}

/** Hermes' `component_id` when it is a usable name, else its name in lower case with other characters as '-'. */
export function hermesName(component: HermesComponent): string | undefined {
  for (const candidate of [component.component_id, component.name]) {
    if (COMPONENT_NAME.test(candidate)) return candidate
    const slug = candidate
      .toLowerCase()
      .replace(/[^a-z0-9_-]+/g, '-')
      .replace(/^[^a-z]+/, '')
      .slice(0, 64)
    if (COMPONENT_NAME.test(slug)) return slug
  }
  return undefined
}

function isObject(value: unknown): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
}

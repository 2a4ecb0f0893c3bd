/**
 * Configuration: every default in one object, with units in the names. Precedence: CLI flags, then
 * `HARMONIA_*` environment variables, then the config file, then defaults. `resolveConfig` validates the
 * merged result (unknown keys are errors, every problem reported at once) and freezes it.
 * Nothing here reads files or the environment: entry points pass them in.
 */
import { Ajv } from 'ajv'
import { ValidationError, type ValidationIssue } from './errors.ts'

export type StorageKind = 'memory' | 'file' | 'sqlite' | 'postgres'
export type ApiKeyScope = 'read' | 'write' | 'admin'

export interface ApiKeyConfig {
  key: string
  scope: ApiKeyScope
  name?: string
}

export interface HarmoniaConfig {
  /** Where the embedded stores keep their files. */
  dataDir: string
  storage: {
    kind: StorageKind
    /** SQLite file; default `<dataDir>/harmonia.db`. */
    sqlitePath?: string
    sqliteSynchronous: 'NORMAL' | 'FULL'
    databaseUrl?: string
    poolSize: number
    /** PostgreSQL schema holding Harmonia's tables (several deployments can share one database). */
    databaseSchema?: string
  }
  server: {
    host: string
    port: number
    bodyLimitBytes: number
    /** Serve without API keys on a non-loopback address (explicit opt-in). */
    noAuth: boolean
    apiKeys: ApiKeyConfig[]
    shutdownGraceMs: number
    /** Events a slow stream consumer may have queued before it is dropped. */
    streamMaxQueuedEvents: number
    heartbeatIntervalMs: number
    /** Requests one client (API key, or address without keys) may make per minute; 0 means no limit. */
    rateLimitPerMinute: number
  }
  engine: {
    nodeId?: string
    maxConcurrentTasks: number
    maxTasksPerExecution: number
    /** How long a node's claim on an execution lasts without renewal (renewed every third of it). */
    leaseMs: number
    /**
     * How often a node looks for executions whose lease expired (a dead node's work), besides the NOTIFY
     * wake-ups. 0 picks: a third of the lease on PostgreSQL, never on the single-node embedded stores.
     */
    claimIntervalMs: number
    /** How often a node announces itself to the cluster (PostgreSQL); 0 picks a third of the lease. */
    heartbeatMs: number
    defaultTaskTimeoutSeconds?: number
    forEachConcurrency: number
    /**
     * History retention: finished executions (with their task states, events and checkpoints) are deleted
     * this many days after they finished. 0 keeps them forever.
     */
    retentionDays: number
    /** How often the retention sweep runs. */
    retentionSweepMs: number
  }
  components: {
    shell: { enabled: boolean }
    /** Remote components (docs/components.md); timeouts and the circuit breaker's settings per component. */
    remote: Array<{
      name: string
      base_url: string
      description?: string
      actions?: Array<{ name: string; description?: string; input_schema?: object; output_schema?: object }>
      timeout_ms?: number
      max_concurrency?: number
      failure_threshold?: number
      cool_down_ms?: number
    }>
  }
  expressions: {
    /** Environment variables expressions may read as `${env.X}`. */
    envAllowList: string[]
  }
  log: { level: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' }
  llm: { baseUrl?: string; model?: string; apiKey?: string; timeoutMs: number; maxRetries: number }
  /** `endpoint`: the URL Hermes gives out for Harmonia (default: from server.host and server.port). */
  hermes: { url?: string; endpoint?: string; heartbeatIntervalMs: number; refreshIntervalMs: number }
}

export const DEFAULT_CONFIG: HarmoniaConfig = {
  dataDir: '.harmonia',
  storage: { kind: 'sqlite', sqliteSynchronous: 'NORMAL', poolSize: 10 },
  server: {
    host: '127.0.0.1',
    port: 8002,
    bodyLimitBytes: 1_048_576,
    noAuth: false,
    apiKeys: [],
    shutdownGraceMs: 10_000,
    streamMaxQueuedEvents: 10_000,
    heartbeatIntervalMs: 15_000,
    rateLimitPerMinute: 0,
  },
  engine: {
    maxConcurrentTasks: 10_000,
    maxTasksPerExecution: 1_000,
    leaseMs: 30_000,
    claimIntervalMs: 0,
    heartbeatMs: 0,
    forEachConcurrency: 100,
    retentionDays: 0,
    retentionSweepMs: 3_600_000,
  },
  components: { shell: { enabled: false }, remote: [] },
  expressions: { envAllowList: [] },
  log: { level: 'info' },
  llm: { timeoutMs: 60_000, maxRetries: 2 },
  hermes: { heartbeatIntervalMs: 15_000, refreshIntervalMs: 60_000 },
}

type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends Array<infer _U> ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K]
}
export type ConfigOverrides = DeepPartial<HarmoniaConfig>

const str = { type: 'string' } as const
const posInt = { type: 'integer', minimum: 1 } as const
const nonNegInt = { type: 'integer', minimum: 0 } as const
const bool = { type: 'boolean' } as const
const obj = { type: 'object' } as const

const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['dataDir', 'storage', 'server', 'engine', 'components', 'expressions', 'log', 'llm', 'hermes'],
  properties: {
    dataDir: str,
    storage: {
      type: 'object',
      additionalProperties: false,
      properties: {
        kind: { enum: ['memory', 'file', 'sqlite', 'postgres'] },
        sqlitePath: str,
        sqliteSynchronous: { enum: ['NORMAL', 'FULL'] },
        databaseUrl: str,
        poolSize: posInt,
        databaseSchema: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_]{0,62}$' },
      },
    },
    server: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: str,
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        bodyLimitBytes: posInt,
        noAuth: bool,
        apiKeys: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['key', 'scope'],
            properties: {
              key: { type: 'string', minLength: 8 },
              scope: { enum: ['read', 'write', 'admin'] },
              name: str,
            },
          },
        },
        shutdownGraceMs: nonNegInt,
        streamMaxQueuedEvents: posInt,
        heartbeatIntervalMs: posInt,
        rateLimitPerMinute: nonNegInt,
      },
    },
    engine: {
      type: 'object',
      additionalProperties: false,
      properties: {
        nodeId: str,
        maxConcurrentTasks: posInt,
        maxTasksPerExecution: posInt,
        leaseMs: { type: 'integer', minimum: 100 },
        claimIntervalMs: nonNegInt,
        heartbeatMs: nonNegInt,
        defaultTaskTimeoutSeconds: { type: 'number', exclusiveMinimum: 0 },
        forEachConcurrency: posInt,
        retentionDays: { type: 'number', minimum: 0 },
        retentionSweepMs: { type: 'integer', minimum: 1000 },
      },
    },
    components: {
      type: 'object',
      additionalProperties: false,
      properties: {
        shell: { type: 'object', additionalProperties: false, properties: { enabled: bool } },
        remote: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['name', 'base_url'],
            properties: {
              name: str,
              base_url: str,
              description: str,
              actions: {
                type: 'array',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['name'],
                  properties: { name: str, description: str, input_schema: obj, output_schema: obj },
                },
              },
              timeout_ms: posInt,
              max_concurrency: posInt,
              failure_threshold: posInt,
              cool_down_ms: posInt,
            },
          },
        },
      },
    },
    expressions: {
      type: 'object',
      additionalProperties: false,
      properties: { envAllowList: { type: 'array', items: str } },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      properties: { level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] } },
    },
    llm: {
      type: 'object',
      additionalProperties: false,
      properties: { baseUrl: str, model: str, apiKey: str, timeoutMs: posInt, maxRetries: nonNegInt },
    },
    hermes: {
      type: 'object',
      additionalProperties: false,
      properties: { url: str, endpoint: str, heartbeatIntervalMs: posInt, refreshIntervalMs: posInt },
    },
  },
} as const

const ajv = new Ajv({ allErrors: true, strict: false })
const validateConfig = ajv.compile(CONFIG_SCHEMA)

export interface ConfigSources {
  /** The config file's parsed content. */
  file?: unknown
  /** The process environment (only HARMONIA_* and HERMES_URL are read). */
  env?: Record<string, string | undefined>
  /** Values from CLI flags. */
  flags?: ConfigOverrides
}

/** Merges the sources over the defaults, validates, and freezes. Throws ValidationError listing every problem. */
export function resolveConfig(sources: ConfigSources = {}): Readonly<HarmoniaConfig> {
  const fromEnv = configFromEnv(sources.env ?? {})
  const issues: ValidationIssue[] = []
  if (
    sources.file !== undefined &&
    (typeof sources.file !== 'object' || sources.file === null || Array.isArray(sources.file))
  ) {
    issues.push({ field: 'config file', message: 'expected an object at the top level' })
  }
  const merged = mergeDeep(
    mergeDeep(
      mergeDeep(structuredClone(DEFAULT_CONFIG), (issues.length === 0 ? sources.file : {}) ?? {}),
      fromEnv.config,
    ),
    sources.flags ?? {},
  ) as HarmoniaConfig
  issues.push(...fromEnv.issues)
  if (!validateConfig(merged)) {
    for (const error of validateConfig.errors ?? []) {
      const field = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || 'config'
      const extra =
        error.keyword === 'additionalProperties'
          ? ` '${String((error.params as { additionalProperty: string }).additionalProperty)}'`
          : error.keyword === 'enum'
            ? `: ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`
            : ''
      issues.push({ field, message: `${error.message ?? 'is invalid'}${extra}` })
    }
  }
  if (merged.storage.kind === 'postgres' && merged.storage.databaseUrl === undefined) {
    issues.push({
      field: 'storage.databaseUrl',
      message: 'is required for postgres storage (HARMONIA_DATABASE_URL)',
    })
  }
  if (issues.length > 0) throw new ValidationError('invalid configuration', issues)
  return deepFreeze(merged)
}

function configFromEnv(env: Record<string, string | undefined>): {
  config: ConfigOverrides
  issues: ValidationIssue[]
} {
  const config: ConfigOverrides = {}
  const issues: ValidationIssue[] = []
  const int = (name: string): number | undefined => {
    const raw = env[name]
    if (raw === undefined || raw === '') return undefined
    const value = Number(raw)
    if (!Number.isInteger(value)) issues.push({ field: name, message: `expected an integer, got '${raw}'` })
    return value
  }
  const set = <K extends keyof HarmoniaConfig>(section: K, values: Record<string, unknown>): void => {
    const defined = Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined && v !== ''))
    if (Object.keys(defined).length > 0) {
      ;(config as Record<string, unknown>)[section] = {
        ...((config as Record<string, object>)[section] ?? {}),
        ...defined,
      }
    }
  }
  if (env['HARMONIA_DATA_DIR']) config.dataDir = env['HARMONIA_DATA_DIR']
  set('storage', {
    kind: env['HARMONIA_STORAGE'],
    databaseUrl: env['HARMONIA_DATABASE_URL'],
    sqlitePath: env['HARMONIA_SQLITE_PATH'],
    poolSize: int('HARMONIA_DB_POOL_SIZE'),
    databaseSchema: env['HARMONIA_DB_SCHEMA'],
  })
  set('server', {
    host: env['HARMONIA_HOST'],
    port: int('HARMONIA_PORT'),
    bodyLimitBytes: int('HARMONIA_BODY_LIMIT_BYTES'),
    rateLimitPerMinute: int('HARMONIA_RATE_LIMIT_PER_MINUTE'),
    apiKeys:
      env['HARMONIA_API_KEYS'] === undefined || env['HARMONIA_API_KEYS'] === ''
        ? undefined
        : parseApiKeys(env['HARMONIA_API_KEYS'], issues),
  })
  set('engine', {
    nodeId: env['HARMONIA_NODE_ID'],
    leaseMs: int('HARMONIA_LEASE_MS'),
    claimIntervalMs: int('HARMONIA_CLAIM_INTERVAL_MS'),
    heartbeatMs: int('HARMONIA_HEARTBEAT_MS'),
    retentionDays: int('HARMONIA_RETENTION_DAYS'),
  })
  if (env['HARMONIA_SHELL_ENABLED'] !== undefined && env['HARMONIA_SHELL_ENABLED'] !== '') {
    config.components = {
      shell: { enabled: ['1', 'true', 'yes'].includes(env['HARMONIA_SHELL_ENABLED'].toLowerCase()) },
    }
  }
  if (env['HARMONIA_ENV_ALLOW']) {
    config.expressions = {
      envAllowList: env['HARMONIA_ENV_ALLOW']
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    }
  }
  set('log', { level: env['HARMONIA_LOG_LEVEL'] })
  set('llm', {
    baseUrl: env['HARMONIA_LLM_BASE_URL'],
    model: env['HARMONIA_LLM_MODEL'],
    apiKey: env['HARMONIA_LLM_API_KEY'],
    timeoutMs: int('HARMONIA_LLM_TIMEOUT_MS'),
    maxRetries: int('HARMONIA_LLM_MAX_RETRIES'),
  })
  set('hermes', {
    url: env['HERMES_URL'],
    endpoint: env['HARMONIA_HERMES_ENDPOINT'],
    heartbeatIntervalMs: int('HARMONIA_HERMES_HEARTBEAT_MS'),
    refreshIntervalMs: int('HARMONIA_HERMES_REFRESH_MS'),
  })
  return { config, issues }
}

/**
 * `HARMONIA_API_KEYS`: comma-separated `key` or `key:scope` or `name:key:scope` entries; scope defaults to admin.
 */
export function parseApiKeys(raw: string, issues: ValidationIssue[] = []): ApiKeyConfig[] {
  const keys: ApiKeyConfig[] = []
  for (const entry of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const parts = entry.split(':')
    const scopes = ['read', 'write', 'admin']
    if (parts.length === 1) keys.push({ key: parts[0]!, scope: 'admin' })
    else if (parts.length === 2 && scopes.includes(parts[1]!))
      keys.push({ key: parts[0]!, scope: parts[1] as ApiKeyScope })
    else if (parts.length === 3 && scopes.includes(parts[2]!)) {
      keys.push({ name: parts[0]!, key: parts[1]!, scope: parts[2] as ApiKeyScope })
    } else {
      issues.push({
        field: 'HARMONIA_API_KEYS',
        message: `entry ${keys.length + 1} is not key, key:scope or name:key:scope (scope read, write or admin)`,
      })
    }
  }
  return keys
}

/** The config with secrets masked, for `harmonia config print` and logs. */
export function maskConfig(config: HarmoniaConfig): unknown {
  const copy = structuredClone(config) as HarmoniaConfig
  copy.server.apiKeys = copy.server.apiKeys.map((k) => ({ ...k, key: '***' }))
  if (copy.llm.apiKey !== undefined) copy.llm.apiKey = '***'
  if (copy.storage.databaseUrl !== undefined) copy.storage.databaseUrl = maskUrl(copy.storage.databaseUrl)
  return copy
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`. */
export function maskUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]+:)[^@]*@/, '$1***@')
}

function mergeDeep(target: unknown, source: unknown): unknown {
  if (source === undefined) return target
  if (!isPlainObject(target) || !isPlainObject(source)) return source
  const out: Record<string, unknown> = { ...target }
  for (const [key, value] of Object.entries(source)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue
    out[key] = mergeDeep(out[key], value)
  }
  return out
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

/**
 * Remote components as a service: registered through the API, listed in the config file
 * (`components.remote`), or discovered from Hermes; kept in the store's `components` documents so they
 * survive restarts (and reach the other nodes sharing a PostgreSQL store, told through `notify`); put in the
 * component registry with their actions, where the engine and the API find them.
 *
 * Precedence for one name: a registration through the API, then the config file, then Hermes. Built-in
 * components cannot be replaced. A rerun of an execution (an operator saying "try again now") lets open
 * circuits probe their component at once instead of waiting for the cool-down.
 */
import { readFile } from 'node:fs/promises'
import { systemClock, type Clock } from '../core/clock.ts'
import type { ActionDescriptor, ComponentDescriptor } from '../core/component.ts'
import type { HarmoniaConfig } from '../core/config.ts'
import type { Engine } from '../core/engine-api.ts'
import { ConflictError, NotFoundError, ValidationError } from '../core/errors.ts'
import { silentLogger, type Logger } from '../core/logger.ts'
import type { JsonObject } from '../core/model.ts'
import type { Store } from '../core/store.ts'
import { createHermesAgent, type HermesAgent } from './hermes-agent.ts'
import { createHermesClient, type HermesClient, type HermesComponent } from './hermes-client.ts'
import {
  createRemoteComponent,
  type RemoteComponent,
  type RemoteComponentSpec,
  type RemoteSource,
  type RemoteStatus,
} from './remote-component.ts'
import type { ComponentRegistry } from './registry.ts'
import {
  cachedOf,
  checkBaseUrl,
  hermesName,
  parseSpec,
  sameSpec,
  specFromDocument,
  stampsOf,
} from './remote-spec.ts'

export const COMPONENTS_COLLECTION = 'components'
const NOTIFY_CHANNEL = 'components'
const ACTION_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/
/** How long start waits for Hermes' first list of components. */
const FIRST_DISCOVERY_WAIT_MS = 2_000
/** Listings in a row a Hermes-discovered component must be absent from before it is removed. */
const HERMES_MISSES_BEFORE_REMOVAL = 3
const RANK: Readonly<Record<RemoteSource, number>> = { hermes: 1, config: 2, api: 3 }

export interface RemoteComponentsOptions {
  store: Store
  registry: ComponentRegistry
  config: Readonly<HarmoniaConfig>
  /** The engine: reruns probe open circuits; heartbeats report its load. */
  engine?: Pick<Engine, 'bus' | 'stats'>
  logger?: Logger
  clock?: Clock
}

export interface RemoteComponents {
  /** Loads persisted and configured components, then starts Hermes (when configured). */
  start(): Promise<void>
  close(): Promise<void>
  /**
   * Registers (or replaces) a remote component from an API body; reads its capabilities before answering.
   * Throws ValidationError naming each bad field, ConflictError for a built-in component's name.
   */
  register(body: unknown): Promise<{ descriptor: ComponentDescriptor; created: boolean }>
  /** Removes a remote component; false when there is none by that name. */
  unregister(name: string): Promise<boolean>
  /** Reads the component's capabilities again. */
  refresh(name: string): Promise<ComponentDescriptor>
  /** Run-time status of a remote component (circuit, calls in flight, settings). */
  status(name: string): RemoteStatus | undefined
  /** Harmonia's own URL, for its Hermes registration (called once the server listens). */
  setEndpoint(url: string): void
  readonly hermes: HermesAgent | undefined
}

interface Entry {
  spec: RemoteComponentSpec
  runtime: RemoteComponent
  createdAt: string
  updatedAt: string
}

export function createRemoteComponents(options: RemoteComponentsOptions): RemoteComponents {
  const { store, registry, config } = options
  const clock = options.clock ?? systemClock
  const log = (options.logger ?? silentLogger).child({ module: 'remote-components' })
  const entries = new Map<string, Entry>()
  const background = new Set<Promise<unknown>>()
  /** Hermes-discovered components absent from consecutive listings, by name. */
  const missing = new Map<string, number>()
  const unsubscribe: Array<() => void> = []
  let hermes: HermesAgent | undefined
  let closed = false
  let started = false

  const track = <T>(promise: Promise<T>): Promise<T> => {
    background.add(promise)
    void promise.finally(() => background.delete(promise)).catch(() => {})
    return promise
  }

  const now = (): string => new Date(clock.now()).toISOString()

  const persist = async (entry: Entry): Promise<void> => {
    if (closed) return
    const discovered = entry.runtime.discovered()
    const doc: JsonObject = {
      ...(structuredClone(entry.spec) as unknown as JsonObject),
      ...(discovered === undefined
        ? {}
        : {
            discovered_actions: structuredClone(discovered.actions) as unknown as JsonObject[],
            ...(discovered.at === undefined ? {} : { discovered_at: discovered.at }),
          }),
      created_at: entry.createdAt,
      updated_at: entry.updatedAt,
    }
    await store.putDocument(COMPONENTS_COLLECTION, entry.spec.name, doc)
  }

  const putInRegistry = (entry: Entry): void => {
    const name = entry.spec.name
    registry.register(
      {
        name,
        ...(entry.spec.description === undefined ? {} : { description: entry.spec.description }),
        kind: 'remote',
        base_url: entry.spec.base_url,
        health: entry.runtime.health(),
      },
      entry.runtime.handlers(),
      {
        replace: true,
        // The list a component gives may be incomplete: an action it did not list is still sent to it, and
        // the component answers whether it knows it (404: HTTP_404, not retriable).
        fallback: (action) =>
          ACTION_NAME.test(action)
            ? {
                descriptor: { name: action },
                invoke: (input, context) => entry.runtime.invoke(action, input, context),
              }
            : undefined,
      },
    )
  }

  /** Puts a spec to work: a fresh runtime (fresh circuit) unless only its actions' source changed. */
  const apply = (
    spec: RemoteComponentSpec,
    stamps: { createdAt: string; updatedAt: string },
    cached?: { actions: ActionDescriptor[]; at?: string },
  ): Entry => {
    const name = spec.name
    const previous = entries.get(name)
    const builtin = registry.describe(name)
    if (builtin !== undefined && builtin.kind !== 'remote') {
      throw new ConflictError(
        `component '${name}' is built in and cannot be replaced by a remote component`,
        {
          component: name,
        },
      )
    }
    const entry = { spec, createdAt: stamps.createdAt, updatedAt: stamps.updatedAt } as Entry
    const runtime = createRemoteComponent(spec, {
      clock,
      logger: log,
      ...(cached === undefined
        ? {}
        : { discovered: cached.actions, ...(cached.at === undefined ? {} : { discoveredAt: cached.at }) }),
      onHealth: (health) => {
        if (entries.get(name) !== entry) return
        if (registry.describe(name)?.kind === 'remote') registry.setHealth(name, health)
      },
      onActions: () => {
        if (entries.get(name) !== entry || closed) return
        try {
          putInRegistry(entry)
        } catch (error) {
          log.warn('component actions rejected', { component: name, error: (error as Error).message })
        }
        track(persist(entry).catch((error: unknown) => logStoreError(name, error)))
      },
    })
    entry.runtime = runtime
    try {
      entries.set(name, entry)
      putInRegistry(entry)
    } catch (error) {
      runtime.close()
      if (previous === undefined) entries.delete(name)
      else entries.set(name, previous)
      throw error
    }
    previous?.runtime.close()
    return entry
  }

  const remove = (name: string): boolean => {
    const entry = entries.get(name)
    if (entry === undefined) return false
    entries.delete(name)
    entry.runtime.close()
    if (registry.describe(name)?.kind === 'remote') registry.unregister(name)
    return true
  }

  const logStoreError = (name: string, error: unknown): void => {
    if (!closed)
      log.warn('component document not written', { component: name, error: (error as Error).message })
  }

  const discoverInBackground = (entry: Entry): void => {
    if (closed) return
    track(entry.runtime.discover())
  }

  const loadDocuments = async (): Promise<Map<string, JsonObject>> => {
    const docs = new Map<string, JsonObject>()
    for (let page = 1; ; page++) {
      const answer = await store.listDocuments(COMPONENTS_COLLECTION, { page, limit: 500 })
      for (const doc of answer.items) if (typeof doc.name === 'string') docs.set(doc.name, doc)
      if (page * answer.limit >= answer.total || answer.items.length === 0) break
    }
    return docs
  }

  /** Another node (or this one) changed a component document: follow it. */
  const reload = async (name: string): Promise<void> => {
    if (closed) return
    const doc = await store.getDocument(COMPONENTS_COLLECTION, name)
    const current = entries.get(name)
    if (doc === undefined) {
      if (current !== undefined && current.spec.source !== 'config') remove(name)
      return
    }
    if (current !== undefined && current.updatedAt === doc.updated_at) return
    const spec = specFromDocument(doc)
    if (spec === undefined) return
    try {
      apply(spec, stampsOf(doc, now()), cachedOf(doc))
    } catch (error) {
      log.warn('component document not applied', { component: name, error: (error as Error).message })
    }
  }

  const onHermesComponents = async (listed: HermesComponent[]): Promise<void> => {
    if (closed) return
    const seen = new Set<string>()
    for (const component of listed) {
      const name = hermesName(component)
      if (name === undefined) continue
      seen.add(name)
      const current = entries.get(name)
      if (current !== undefined && RANK[current.spec.source] > RANK.hermes) continue
      if (current === undefined && registry.describe(name) !== undefined) {
        log.debug('hermes component shadowed by a built-in one', { component: name })
        continue
      }
      let baseUrl: string
      try {
        baseUrl = checkBaseUrl(component.endpoint)
      } catch {
        log.warn('hermes component has an unusable endpoint', { component: name })
        continue
      }
      const spec: RemoteComponentSpec = {
        name,
        base_url: baseUrl,
        ...(component.description === undefined ? {} : { description: component.description }),
        source: 'hermes',
        hermes_capabilities: component.capabilities,
      }
      if (current !== undefined && sameSpec(current.spec, spec)) continue
      const stamp = now()
      const entry = apply(spec, { createdAt: current?.createdAt ?? stamp, updatedAt: stamp })
      log.info('component discovered from hermes', { component: name, base_url: baseUrl })
      await persist(entry).catch((error: unknown) => logStoreError(name, error))
      discoverInBackground(entry)
    }
    for (const name of seen) missing.delete(name)
    for (const [name, entry] of [...entries]) {
      if (entry.spec.source !== 'hermes' || seen.has(name)) continue
      // A restarted Hermes lists nobody until components register again: wait a few listings.
      const misses = (missing.get(name) ?? 0) + 1
      missing.set(name, misses)
      if (misses < HERMES_MISSES_BEFORE_REMOVAL) continue
      missing.delete(name)
      log.info('component no longer listed by hermes', { component: name })
      remove(name)
      await store
        .deleteDocument(COMPONENTS_COLLECTION, name)
        .catch((error: unknown) => logStoreError(name, error))
    }
  }

  const service: RemoteComponents = {
    get hermes() {
      return hermes
    },

    async start() {
      if (started) return
      started = true
      const docs = await loadDocuments()
      const specs = new Map<string, { spec: RemoteComponentSpec; doc?: JsonObject }>()
      for (const doc of docs.values()) {
        const spec = specFromDocument(doc)
        if (spec !== undefined) specs.set(spec.name, { spec, doc })
      }
      const configured = new Set<string>()
      for (const item of config.components.remote) {
        const spec = parseSpec(item, 'config', 'components.remote')
        configured.add(spec.name)
        const existing = specs.get(spec.name)
        if (existing !== undefined && RANK[existing.spec.source] > RANK.config) continue
        specs.set(spec.name, { spec, ...(existing?.doc === undefined ? {} : { doc: existing.doc }) })
      }
      const stamp = now()
      for (const { spec, doc } of specs.values()) {
        if (spec.source === 'config' && !configured.has(spec.name)) {
          await store.deleteDocument(COMPONENTS_COLLECTION, spec.name)
          continue
        }
        let entry: Entry
        try {
          entry = apply(
            spec,
            doc === undefined ? { createdAt: stamp, updatedAt: stamp } : stampsOf(doc, stamp),
            doc === undefined ? undefined : cachedOf(doc),
          )
        } catch (error) {
          log.warn('remote component not registered', {
            component: spec.name,
            error: (error as Error).message,
          })
          continue
        }
        if (doc === undefined || doc.source !== spec.source) await persist(entry)
        discoverInBackground(entry)
      }
      unsubscribe.push(
        store.listen(NOTIFY_CHANNEL, (payload) => {
          track(reload(payload).catch((error: unknown) => logStoreError(payload, error)))
        }),
      )
      if (options.engine !== undefined) {
        unsubscribe.push(
          options.engine.bus.subscribe((event) => {
            if (event.type !== 'execution_rerun') return
            for (const entry of entries.values()) entry.runtime.probeNow()
          }),
        )
      }
      if (config.hermes.url !== undefined) {
        // Registration waits for `setEndpoint`, which only a listening server calls: a one-shot
        // `harmonia run` discovers components but neither registers nor unregisters Harmonia.
        let client: HermesClient
        try {
          client = createHermesClient(config.hermes.url)
        } catch {
          throw new ValidationError('invalid configuration', [
            {
              field: 'hermes.url',
              message: `expected an http:// or https:// URL (HERMES_URL), got '${config.hermes.url.slice(0, 200)}'`,
            },
          ])
        }
        hermes = createHermesAgent({
          client,
          version: await readVersion(),
          heartbeatIntervalMs: config.hermes.heartbeatIntervalMs,
          refreshIntervalMs: config.hermes.refreshIntervalMs,
          status: () => ({ ...(options.engine?.stats() ?? {}), components: registry.list().length }),
          onDiscovered: onHermesComponents,
          clock,
          logger: log,
        })
        // Components Hermes knows are there for the first executions, unless Hermes is slow to answer.
        let timer: { cancel(): void } | undefined
        await Promise.race([
          hermes.start(),
          new Promise<void>((resolve) => (timer = clock.setTimeout(resolve, FIRST_DISCOVERY_WAIT_MS))),
        ])
        timer?.cancel()
      }
    },

    async close() {
      if (closed) return
      await hermes?.close()
      closed = true
      for (const stop of unsubscribe.splice(0)) stop()
      for (const entry of entries.values()) entry.runtime.close()
      await Promise.allSettled([...background])
    },

    async register(body) {
      const spec = parseSpec(body, 'api', 'body')
      const previous = entries.get(spec.name)
      const stamp = now()
      const entry = apply(spec, { createdAt: previous?.createdAt ?? stamp, updatedAt: stamp })
      await entry.runtime.discover()
      if (entries.get(spec.name) !== entry) {
        throw new ConflictError(`component '${spec.name}' changed while it was being registered`, {
          component: spec.name,
        })
      }
      await persist(entry)
      await store.notify(NOTIFY_CHANNEL, spec.name)
      return { descriptor: registry.describe(spec.name)!, created: previous === undefined }
    },

    async unregister(name) {
      const entry = entries.get(name)
      if (entry === undefined) {
        const descriptor = registry.describe(name)
        if (descriptor !== undefined) {
          throw new ConflictError(`component '${name}' is built in and cannot be unregistered`, {
            component: name,
          })
        }
        return false
      }
      remove(name)
      await store.deleteDocument(COMPONENTS_COLLECTION, name)
      await store.notify(NOTIFY_CHANNEL, name)
      return true
    },

    async refresh(name) {
      const entry = entries.get(name)
      if (entry === undefined) {
        throw new NotFoundError('not_found', `remote component '${name}' is not registered`, {
          component: name,
        })
      }
      await entry.runtime.discover()
      return registry.describe(name)!
    },

    status(name) {
      return entries.get(name)?.runtime.status()
    },

    setEndpoint(url) {
      // A server listening on every interface is reached through loopback from this machine.
      const reachable = url.replace(/^http:\/\/(0\.0\.0\.0|\[::\])(?=:)/, 'http://127.0.0.1')
      hermes?.setEndpoint(config.hermes.endpoint ?? reachable)
    },
  }
  return service
}

async function readVersion(): Promise<string> {
  try {
    const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8')
    const version = (JSON.parse(text) as { version?: unknown }).version
    return typeof version === 'string' ? version : '0.0.0'
  } catch {
    return '0.0.0'
  }
}

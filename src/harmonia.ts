/**
 * The composition root: one resolved config in, a wired Harmonia out (store, component registry with the
 * built-ins, engine, workflow service). The CLI and the server both start here; tests may build several.
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import path from 'node:path'
import { systemClock } from './core/clock.ts'
import { createCluster, type Cluster } from './core/cluster.ts'
import { createRetention, type Retention } from './core/retention.ts'
import { ConflictError } from './core/errors.ts'
import type { HarmoniaConfig } from './core/config.ts'
import { createEngine } from './core/engine.ts'
import type { Engine } from './core/engine-api.ts'
import { silentLogger, type Logger } from './core/logger.ts'
import type { Store } from './core/store.ts'
import { createWorkflowService, type WorkflowService } from './core/workflows.ts'
import { createComponentRegistry, registerBuiltins, type ComponentRegistry } from './components/index.ts'
import { registerLlmComponent } from './components/llm-component.ts'
import { createRemoteComponents, type RemoteComponents } from './components/remote-components.ts'
import { createLlmProviderFromConfig, type LlmProvider } from './llm/provider.ts'
import { createStore } from './storage/index.ts'
import { releasePidLock, takePidLock } from './storage/pid-lock.ts'
import { createWebhooksAndNotifications } from './triggers/webhooks-and-notifications.ts'
import type { NotificationService } from './triggers/notifications.ts'
import type { WebhookService } from './triggers/webhooks.ts'
import type { EventTriggerService } from './triggers/event-triggers.ts'
import { createSchedulesAndTriggers } from './triggers/schedules-and-triggers.ts'
import type { ScheduleService } from './triggers/schedules.ts'
import { createTemplateService, type TemplateService } from './templates/template-service.ts'

export interface Harmonia {
  readonly config: Readonly<HarmoniaConfig>
  readonly store: Store
  readonly components: ComponentRegistry
  readonly engine: Engine
  readonly workflows: WorkflowService
  readonly logger: Logger
  /** The chat model client when `llm.baseUrl` is configured (the `llm` component and the LLM routes use it). */
  readonly llm: LlmProvider | undefined
  /** Remote components (API, config, Hermes) and Harmonia's own Hermes registration. */
  readonly remote: RemoteComponents
  /** Inbound webhooks (definitions, `/hooks/<endpoint>` calls and their records). */
  readonly webhooks: WebhookService
  /** Outbound notifications: subscriptions and their outbox of signed deliveries. */
  readonly notifications: NotificationService
  /** Templates (versions, instantiate, Tekton import/export); the starter library is loaded on start. */
  readonly templates: TemplateService
  /** Cron schedules that start a workflow or a template. */
  readonly schedules: ScheduleService
  /** Event triggers: start workflow B when an execution of A completes or fails. */
  readonly triggers: EventTriggerService
  /** This node's view of the cluster (live nodes; events other nodes persist reach the bus). */
  readonly cluster: Cluster
  /** Deletes finished executions `engine.retentionDays` after they finished (off when 0). */
  readonly retention: Retention
  /**
   * Takes the right to run the executions of an embedded SQLite store for this process (start does it;
   * `harmonia resume` does it without starting); throws ConflictError while another live process holds it.
   */
  holdDataDir(): void
  /** Opens the store and recovers unfinished executions. */
  start(): Promise<void>
  /** Stops the engine (grace period from config) and closes the store. */
  close(): Promise<void>
}

export interface CreateHarmoniaOptions {
  logger?: Logger
  /** The process environment, for `${env.X}` (only allow-listed names are kept). */
  env?: Record<string, string | undefined>
  /** Working directory the data dir is relative to. */
  cwd?: string
  /** Use this store instead of the one the config names (tests). */
  store?: Store
}

export async function createHarmonia(
  config: Readonly<HarmoniaConfig>,
  options: CreateHarmoniaOptions = {},
): Promise<Harmonia> {
  const logger = options.logger ?? silentLogger
  const dataDir = path.resolve(options.cwd ?? process.cwd(), config.dataDir)
  // Before the store opens: a configuration problem must not leave it open.
  const llm = createLlmProviderFromConfig(config.llm, { logger })
  const store = options.store ?? (await openStore(config, dataDir, logger))
  const components = createComponentRegistry()
  registerBuiltins(components, { shell: { enabled: config.components.shell.enabled } })
  registerLlmComponent(components, llm)
  const shared = store.kind === 'postgres'
  const engineLock =
    options.store === undefined && store.kind === 'sqlite'
      ? `${path.resolve(config.storage.sqlitePath ?? path.join(dataDir, 'harmonia.db'))}.engine.lock`
      : undefined
  const leaseMs = config.engine.leaseMs
  const third = Math.max(100, Math.floor(leaseMs / 3))
  // Nodes sharing a database need distinct ids; one embedded node keeps a stable id to recover at once.
  const nodeId =
    config.engine.nodeId ??
    (shared ? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}` : undefined)
  const env: Record<string, string> = {}
  for (const name of config.expressions.envAllowList) {
    const value = options.env?.[name]
    if (value !== undefined) env[name] = value
  }
  const engine = createEngine({
    store,
    components,
    logger: logger.child({ module: 'engine' }),
    maxConcurrentTasks: config.engine.maxConcurrentTasks,
    maxTasksPerExecution: config.engine.maxTasksPerExecution,
    leaseMs,
    claimIntervalMs: config.engine.claimIntervalMs || (shared ? third : 0),
    env,
    defaults: {
      forEachConcurrency: config.engine.forEachConcurrency,
      ...(config.engine.defaultTaskTimeoutSeconds === undefined
        ? {}
        : { taskTimeoutSeconds: config.engine.defaultTaskTimeoutSeconds }),
    },
    ...(nodeId === undefined ? {} : { nodeId }),
  })
  const cluster = createCluster({
    store,
    engine,
    clock: systemClock,
    logger: logger.child({ module: 'cluster' }),
    heartbeatMs: config.engine.heartbeatMs || third,
  })
  const retention = createRetention({
    engine,
    clock: systemClock,
    logger: logger.child({ module: 'retention' }),
    retentionDays: config.engine.retentionDays,
    sweepIntervalMs: config.engine.retentionSweepMs,
  })
  const workflows = createWorkflowService({ store, components })
  const remote = createRemoteComponents({ store, registry: components, config, engine, logger })
  const webhooksAndNotifications = createWebhooksAndNotifications({ store, engine, components, logger })
  const templates = createTemplateService({
    store,
    saveWorkflow: (definition) => workflows.create(definition),
  })
  const schedulesAndTriggers = createSchedulesAndTriggers({ store, engine, templates, logger })
  let started = false
  let holding = false
  // One process at a time runs the executions of an embedded SQLite file: a second one (a `serve` started
  // twice, a `resume` beside a server) would take them over, under the same node id.
  const holdDataDir = (): void => {
    if (engineLock === undefined || holding) return
    const lock = takePidLock(engineLock)
    if (!lock.taken) {
      throw new ConflictError(
        `another Harmonia process${lock.pid === undefined ? '' : ` (pid ${lock.pid})`} runs the executions ` +
          `of '${config.storage.sqlitePath ?? path.join(dataDir, 'harmonia.db')}'; stop it, or give this one ` +
          `another --data-dir`,
        { data_dir: dataDir, ...(lock.pid === undefined ? {} : { pid: lock.pid }) },
      )
    }
    holding = true
  }
  return {
    config,
    store,
    components,
    engine,
    workflows,
    logger,
    llm,
    remote,
    webhooks: webhooksAndNotifications.webhooks,
    notifications: webhooksAndNotifications.notifications,
    templates,
    schedules: schedulesAndTriggers.schedules,
    triggers: schedulesAndTriggers.triggers,
    cluster,
    retention,
    holdDataDir,
    async start() {
      if (started) return
      holdDataDir()
      started = true
      await cluster.start()
      await remote.start()
      await webhooksAndNotifications.start()
      await engine.start()
      await templates.loadStarterLibrary()
      await schedulesAndTriggers.start()
      retention.start()
    },
    async close() {
      await retention.stop()
      await schedulesAndTriggers.stop()
      await webhooksAndNotifications.stop()
      await engine.stop({ graceMs: config.server.shutdownGraceMs })
      await cluster.stop()
      await remote.close()
      await store.close()
      if (holding && engineLock !== undefined) releasePidLock(engineLock)
    },
  }
}

async function openStore(config: Readonly<HarmoniaConfig>, dataDir: string, logger: Logger): Promise<Store> {
  const kind = config.storage.kind
  if (kind === 'postgres') {
    const { createPostgresStore } = await import('./storage/postgres-store.ts')
    const store = createPostgresStore({
      connectionString: config.storage.databaseUrl!,
      poolSize: config.storage.poolSize,
      ...(config.storage.databaseSchema === undefined ? {} : { schema: config.storage.databaseSchema }),
      logger,
    })
    await store.init()
    return store
  }
  const store = createStore({
    kind,
    dataDir,
    sqlitePath: config.storage.sqlitePath ?? path.join(dataDir, 'harmonia.db'),
    sqliteSynchronous: config.storage.sqliteSynchronous,
  })
  await store.init()
  return store
}

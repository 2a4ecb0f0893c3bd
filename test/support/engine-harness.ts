/**
 * Test support: an engine on a real store with a component registry holding the built-ins plus a
 * `test` component whose actions record every invocation and can be made to fail or to block.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import type { ActionHandler, TaskContext } from '../../src/core/component.ts'
import { createEngine, type EngineOptions } from '../../src/core/engine.ts'
import type { Engine } from '../../src/core/engine-api.ts'
import { TaskFailure } from '../../src/core/errors.ts'
import type { ExecutionEvent } from '../../src/core/events.ts'
import type { JsonValue } from '../../src/core/model.ts'
import type { Store } from '../../src/core/store.ts'
import {
  createComponentRegistry,
  registerBuiltins,
  type ComponentRegistry,
} from '../../src/components/index.ts'
import { createMemoryStore } from '../../src/storage/memory-store.ts'

export interface Invocation {
  action: string
  task: string
  itemIndex?: number
  attempt: number
  idempotencyKey: string
  input: JsonValue
}

export interface Gate {
  /** Resolves when the gated action has been entered `count` times. */
  entered(count?: number): Promise<void>
  release(): void
}

export class TestComponent {
  readonly invocations: Invocation[] = []
  /** Failures still to throw, per task name. */
  readonly failures = new Map<string, { count: number; code: string; retriable: boolean }>()
  readonly gates = new Map<
    string,
    {
      promise: Promise<void>
      release: () => void
      enteredCount: number
      waiters: Array<{ n: number; resolve: () => void }>
    }
  >()
  running = 0
  maxRunning = 0

  calls(task: string): Invocation[] {
    return this.invocations.filter((i) => i.task === task)
  }

  failNext(task: string, count: number, code = 'SERVER_ERROR', retriable = true): void {
    this.failures.set(task, { count, code, retriable })
  }

  gate(task: string): Gate {
    let release!: () => void
    const promise = new Promise<void>((resolve) => (release = resolve))
    const entry = {
      promise,
      release,
      enteredCount: 0,
      waiters: [] as Array<{ n: number; resolve: () => void }>,
    }
    this.gates.set(task, entry)
    return {
      entered: (n = 1) =>
        entry.enteredCount >= n
          ? Promise.resolve()
          : new Promise<void>((resolve) => entry.waiters.push({ n, resolve })),
      release: () => entry.release(),
    }
  }

  handler(
    action: string,
    run: (input: JsonValue, context: TaskContext) => Promise<JsonValue>,
  ): ActionHandler {
    return {
      descriptor: { name: action, description: `test action ${action}` },
      invoke: async (input, context) => {
        this.invocations.push({
          action,
          task: context.task,
          ...(context.itemIndex === undefined ? {} : { itemIndex: context.itemIndex }),
          attempt: context.attempt,
          idempotencyKey: context.idempotencyKey,
          input,
        })
        this.running++
        this.maxRunning = Math.max(this.maxRunning, this.running)
        try {
          const gate = this.gates.get(context.task)
          if (gate !== undefined) {
            gate.enteredCount++
            for (const w of gate.waiters.filter((w) => w.n <= gate.enteredCount)) w.resolve()
            await Promise.race([
              gate.promise,
              new Promise((_, reject) =>
                context.signal.addEventListener('abort', () => reject(context.signal.reason), { once: true }),
              ),
            ])
          }
          const failure = this.failures.get(context.task)
          if (failure !== undefined && failure.count > 0) {
            failure.count--
            throw new TaskFailure(failure.code, `planned failure of ${context.task}`, {
              retriable: failure.retriable,
            })
          }
          return await run(input, context)
        } finally {
          this.running--
        }
      },
    }
  }

  register(registry: ComponentRegistry): void {
    registry.register({ name: 'test', description: 'test actions', kind: 'builtin' }, [
      this.handler('echo', async (input) => input),
      this.handler('fail', async () => {
        throw new TaskFailure('BOOM', 'always fails', { retriable: false })
      }),
    ])
  }
}

export interface Harness {
  engine: Engine
  store: Store
  registry: ComponentRegistry
  test: TestComponent
  events: ExecutionEvent[]
  dir: string
  /** A second engine on the same data (a restart after a crash). */
  restart(options?: Partial<EngineOptions>): Promise<Harness>
  close(): Promise<void>
}

export async function createHarness(
  options: {
    kind?: 'memory' | 'sqlite' | 'file'
    dir?: string
    test?: TestComponent
  } & Partial<EngineOptions> = {},
): Promise<Harness> {
  const dir = options.dir ?? (await mkdtemp(path.join(tmpdir(), 'harmonia-engine-')))
  const kind =
    options.kind ??
    (process.env['HARMONIA_TEST_STORE'] as 'memory' | 'sqlite' | 'file' | undefined) ??
    'memory'
  const store =
    options.store ??
    (kind === 'memory'
      ? sharedMemory(dir)
      : (await import('../../src/storage/index.ts')).createStore({
          kind,
          dataDir: dir,
          sqlitePath: path.join(dir, 'harmonia.db'),
        }))
  await store.init()
  const registry = createComponentRegistry()
  registerBuiltins(registry, { shell: { enabled: false } })
  const test = options.test ?? new TestComponent()
  test.register(registry)
  const engine = createEngine({ ...options, store, components: registry })
  const events: ExecutionEvent[] = []
  engine.bus.subscribe((event) => events.push(event))
  await engine.start()
  let closed = false
  const harness: Harness = {
    engine,
    store,
    registry,
    test,
    events,
    dir,
    async restart(more = {}) {
      // Simulates a crash: the old engine is abandoned without a graceful stop.
      return createHarness({ kind, dir, test, ...more })
    },
    async close() {
      if (closed) return
      closed = true
      await engine.stop({ graceMs: 0 })
      await store.close()
      if (options.dir === undefined) await rm(dir, { recursive: true, force: true })
    },
  }
  return harness
}

const memoryStores = new Map<string, Store>()
/** A memory store survives a simulated restart within the test process (keyed by the harness dir). */
function sharedMemory(dir: string): Store {
  let store = memoryStores.get(dir)
  if (store === undefined) memoryStores.set(dir, (store = createMemoryStore()))
  return store
}

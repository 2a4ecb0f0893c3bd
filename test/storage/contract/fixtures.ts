/**
 * Records and helpers shared by the storage contract suite: plain builders with fixed timestamps, a
 * deadline-bounded `eventually`, and assertions on error class, code and message.
 */
import assert from 'node:assert/strict'
import type { TestContext } from 'node:test'
import { HarmoniaError } from '../../../src/core/errors.ts'
import type { ExecutionEvent } from '../../../src/core/events.ts'
import type {
  CheckpointRecord,
  ExecutionRecord,
  TaskState,
  WorkflowDefinition,
  WorkflowRecord,
} from '../../../src/core/model.ts'
import type { Store } from '../../../src/core/store.ts'

export interface StoreFixture {
  store: Store
  /** Closes what the fixture opened and removes its data (temp dir, schema). */
  cleanup(): Promise<void>
  /**
   * Persistent adapters: a new, not yet initialized store over the same data. The suite closes the old
   * store first and closes the new one itself.
   */
  reopen?(): Promise<Store>
}

export type MakeStore = () => Promise<StoreFixture>

export interface ContractContext {
  /** A fresh, initialized store for one test, cleaned up after it. */
  open(t: TestContext): Promise<StoreFixture>
}

/** `2024-01-01T00:00:00.000Z` plus `seconds`. */
export function at(seconds: number): string {
  return new Date(Date.UTC(2024, 0, 1) + seconds * 1000).toISOString()
}

export function definition(name: string, extra: Partial<WorkflowDefinition> = {}): WorkflowDefinition {
  return {
    name,
    tasks: {
      a: { name: 'a', component: 'core', action: 'echo', input: { text: '${workflow.input.text}' } },
      b: { name: 'b', component: 'core', action: 'echo', depends_on: ['a'] },
    },
    ...extra,
  }
}

export function workflow(
  workflowId: string,
  revision: number,
  extra: Partial<WorkflowRecord> & { name?: string; description?: string } = {},
): WorkflowRecord {
  const { name, description, ...rest } = extra
  return {
    workflow_id: workflowId,
    revision,
    definition: definition(name ?? workflowId, description === undefined ? {} : { description }),
    status: 'published',
    created_at: at(revision),
    updated_at: at(revision),
    ...rest,
  }
}

export function execution(executionId: string, extra: Partial<ExecutionRecord> = {}): ExecutionRecord {
  return {
    execution_id: executionId,
    workflow_id: 'wf-1',
    workflow_revision: 1,
    workflow_name: 'wf one',
    definition: definition('wf one'),
    status: 'pending',
    input: { text: 'hello' },
    execution_options: { timeout: 60 },
    created_at: at(0),
    updated_at: at(0),
    completed_tasks: 0,
    total_tasks: 2,
    last_event_seq: 0,
    ...extra,
  }
}

export function taskState(executionId: string, task: string, extra: Partial<TaskState> = {}): TaskState {
  return { execution_id: executionId, task, item_index: -1, status: 'pending', attempts: 0, ...extra }
}

export function event(executionId: string, seq: number, extra: Partial<ExecutionEvent> = {}): ExecutionEvent {
  return {
    seq,
    type: 'task_started',
    timestamp: at(seq),
    execution_id: executionId,
    workflow_id: 'wf-1',
    data: { task: 'a', n: seq },
    ...extra,
  }
}

export function checkpoint(
  checkpointId: string,
  executionId: string,
  extra: Partial<CheckpointRecord> = {},
): CheckpointRecord {
  return {
    checkpoint_id: checkpointId,
    execution_id: executionId,
    workflow_id: 'wf-1',
    name: `checkpoint ${checkpointId}`,
    created_at: at(10),
    task_states: [taskState(executionId, 'a', { status: 'completed', attempts: 1, output: { ok: true } })],
    ...extra,
  }
}

/** Waits until `probe` returns a value other than undefined/false, or fails naming the last state. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 5_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  for (;;) {
    const value = await probe()
    if (value !== undefined && value !== false) return value
    last = value
    if (Date.now() > deadline)
      assert.fail(`${what}: not reached within ${timeoutMs} ms (last: ${String(last)})`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** Asserts a rejection with this class and code, and a message matching `message`. */
export async function rejectsWith(
  promise: Promise<unknown>,
  errorClass: new (...args: never[]) => HarmoniaError,
  code: string,
  message: RegExp,
): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(
      error instanceof errorClass,
      `expected ${errorClass.name}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
    )
    assert.equal((error as HarmoniaError).code, code)
    assert.match((error as Error).message, message)
    return true
  })
}

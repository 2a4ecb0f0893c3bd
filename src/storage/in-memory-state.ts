/**
 * Everything a store holds, in Maps, with the store's queries and rules: the memory store is this alone,
 * the file store is this plus files. Writes come in two steps: `plan*` checks a change against the current
 * state and computes its result without touching anything (throwing LeaseLostError, ConflictError, ...),
 * and `apply*` makes it visible, synchronously. The file store persists between the two, so what readers
 * see is always on disk.
 *
 * Values held here are the store's own: plans hold copies taken through JSON (what a persistent store
 * keeps: `undefined` fields dropped), and readers get clones.
 */
import { ConflictError, LeaseLostError } from '../core/errors.ts'
import type { ExecutionEvent } from '../core/events.ts'
import {
  FINISHED_EXECUTION_STATUSES,
  type CheckpointRecord,
  type ExecutionRecord,
  type JsonObject,
  type TaskState,
  type WorkflowRecord,
} from '../core/model.ts'
import type {
  DocumentQuery,
  DocumentWrite,
  ExecutionQuery,
  ExecutionSummary,
  Page,
  WorkflowQuery,
  WriteBatch,
} from '../core/store.ts'
import { checkWhere, matchesWhere, sortDocuments } from './document-filter.ts'
import {
  compareText,
  DOCUMENT_SORT_FIELDS,
  EXECUTION_SORT_FIELDS,
  resolvePage,
  resolveSort,
  sortableTime,
  timestampBound,
  WORKFLOW_SORT_FIELDS,
  type ExecutionSortField,
  type ResolvedDeletion,
} from './list-query.ts'
import { DEFAULT_LEASE_MS, executionFixed, executionState, joinExecution } from './execution-parts.ts'
import { checkBatch } from './input-checks.ts'

export interface Lease {
  owner: string
  expiresAtMs: number
}

export interface StoredExecution {
  record: ExecutionRecord
  lease: Lease | undefined
}

/** The result of a commit, checked and computed, not yet visible. */
export interface CommitPlan {
  /** Executions the batch inserts, with the lease taken at insert (fenced ones). */
  inserted: Map<string, StoredExecution>
  /** Existing executions after the upsert: immutable fields kept from the stored record. */
  updated: Map<string, ExecutionRecord>
  tasks: TaskState[]
  /** Copies with their ids assigned, in batch order. */
  events: ExecutionEvent[]
  documents: DocumentWrite[]
}

/** A lease change: `undefined` releases. */
export type LeaseChange = [executionId: string, lease: Lease | undefined]

const UNFINISHED: ReadonlySet<string> = new Set(['pending', 'running', 'paused'])

export class InMemoryState {
  /** Revisions of each workflow, by increasing revision. */
  readonly workflows = new Map<string, WorkflowRecord[]>()
  readonly executions = new Map<string, StoredExecution>()
  readonly idempotencyKeys = new Map<string, string>()
  /** Per execution, keyed `task \0 item_index`. */
  readonly tasks = new Map<string, Map<string, TaskState>>()
  /** Per execution, by increasing seq. */
  readonly events = new Map<string, ExecutionEvent[]>()
  /** Every event, by increasing id. */
  readonly allEvents: ExecutionEvent[] = []
  nextEventId = 1
  readonly checkpoints = new Map<string, CheckpointRecord>()
  readonly documents = new Map<string, Map<string, JsonObject>>()
  /** `scope \0 key` → expiry in ms (Infinity when the mark never expires). */
  readonly marks = new Map<string, number>()

  // ----- workflows ---------------------------------------------------------------------------------------

  /** Refuses a revision that is already stored: every save adds one. */
  checkNewRevision(record: WorkflowRecord): void {
    if (this.workflows.get(record.workflow_id)?.some((r) => r.revision === record.revision)) {
      throw new ConflictError(
        `saveWorkflow: revision ${record.revision} of workflow '${record.workflow_id}' is already stored; save the next revision instead`,
        { workflow_id: record.workflow_id, revision: record.revision },
      )
    }
  }

  /** Adds a revision (a stored copy). */
  applyWorkflow(record: WorkflowRecord): void {
    const revisions = this.workflows.get(record.workflow_id)
    if (revisions === undefined) {
      this.workflows.set(record.workflow_id, [record])
      return
    }
    let at = revisions.length
    while (at > 0 && revisions[at - 1]!.revision > record.revision) at--
    revisions.splice(at, 0, record)
  }

  getWorkflow(workflowId: string, revision?: number): WorkflowRecord | undefined {
    const revisions = this.workflows.get(workflowId)
    if (revisions === undefined) return undefined
    const found = revision === undefined ? revisions.at(-1) : revisions.find((r) => r.revision === revision)
    return found === undefined ? undefined : structuredClone(found)
  }

  listWorkflowRevisions(workflowId: string): WorkflowRecord[] {
    return structuredClone(this.workflows.get(workflowId) ?? [])
  }

  listWorkflows(query: WorkflowQuery): Page<WorkflowRecord> {
    const window = resolvePage('listWorkflows', query)
    const sort = resolveSort('listWorkflows', query, WORKFLOW_SORT_FIELDS, {
      field: 'created_at',
      order: 'desc',
    })
    const needle = query.search === undefined || query.search === '' ? undefined : query.search.toLowerCase()
    const matches: WorkflowRecord[] = []
    for (const revisions of this.workflows.values()) {
      const latest = revisions.at(-1)
      if (latest === undefined) continue
      if (query.include_drafts === false && latest.status === 'draft') continue
      if (needle !== undefined) {
        const name = (latest.definition.name ?? '').toLowerCase()
        const description = (latest.definition.description ?? '').toLowerCase()
        if (!name.includes(needle) && !description.includes(needle)) continue
      }
      matches.push(latest)
    }
    const key = (w: WorkflowRecord): string =>
      sort.field === 'name' ? (w.definition.name ?? '') : sortableTime(w[sort.field])
    const sign = sort.descending ? -1 : 1
    matches.sort((a, b) => sign * (compareText(key(a), key(b)) || compareText(a.workflow_id, b.workflow_id)))
    return {
      items: structuredClone(matches.slice(window.offset, window.offset + window.limit)),
      total: matches.length,
      page: window.page,
      limit: window.limit,
    }
  }

  deleteWorkflow(workflowId: string): boolean {
    return this.workflows.delete(workflowId)
  }

  // ----- commit ------------------------------------------------------------------------------------------

  /** Checks a batch against the state (fence, idempotency keys, event seqs) and computes its result. */
  planCommit(batch: WriteBatch, nowMs: number): CommitPlan {
    checkBatch(batch)
    const fence = batch.fence
    const fenced = new Set(fence?.execution_ids ?? [])
    if (fence !== undefined) {
      for (const id of fenced) {
        const stored = this.executions.get(id)
        if (stored !== undefined && !holds(stored.lease, fence.node_id, nowMs)) throw new LeaseLostError(id)
      }
    }
    const plan: CommitPlan = { inserted: new Map(), updated: new Map(), tasks: [], events: [], documents: [] }
    const newKeys = new Map<string, string>()
    for (const input of batch.executions ?? []) {
      const id = input.execution_id
      const inserted = plan.inserted.get(id)
      const base = inserted?.record ?? plan.updated.get(id) ?? this.executions.get(id)?.record
      if (base !== undefined) {
        // An upsert: only the mutable part is copied; the fixed part and the definition stay as stored.
        const merged = joinExecution(
          executionFixed(base),
          copy(executionState(input)),
          base.definition as unknown as JsonObject,
        )
        if (inserted !== undefined) inserted.record = merged
        else plan.updated.set(id, merged)
        continue
      }
      const record = copy(input)
      const key = record.idempotency_key
      if (key !== undefined) {
        const holder = this.idempotencyKeys.get(key) ?? newKeys.get(key)
        if (holder !== undefined && holder !== id) throw idempotencyConflict(key, holder)
        newKeys.set(key, id)
      }
      const lease =
        fence !== undefined && fenced.has(id)
          ? { owner: fence.node_id, expiresAtMs: nowMs + (fence.lease_ms ?? DEFAULT_LEASE_MS) }
          : undefined
      plan.inserted.set(id, { record, lease })
    }
    for (const state of batch.tasks ?? []) plan.tasks.push(copy(state))
    const seen = new Set<string>()
    let nextId = this.nextEventId
    for (const input of batch.events ?? []) {
      const event = copy(input)
      const seqKey = `${event.execution_id}\u0000${event.seq}`
      if (seen.has(seqKey) || indexOfSeq(this.events.get(event.execution_id), event.seq) >= 0) {
        throw new ConflictError(
          `commit: event seq ${event.seq} of execution '${event.execution_id}' is already stored; seqs are gapless and unique per execution`,
          { execution_id: event.execution_id, seq: event.seq },
        )
      }
      seen.add(seqKey)
      event.id = nextId++
      plan.events.push(event)
    }
    for (const write of batch.documents ?? []) plan.documents.push(copy(write))
    return plan
  }

  applyCommit(plan: CommitPlan): void {
    for (const [id, stored] of plan.inserted) {
      this.executions.set(id, stored)
      const key = stored.record.idempotency_key
      if (key !== undefined) this.idempotencyKeys.set(key, id)
    }
    for (const [id, record] of plan.updated) {
      const stored = this.executions.get(id)
      if (stored !== undefined) stored.record = record
    }
    for (const state of plan.tasks) this.applyTaskState(state)
    for (const event of plan.events) this.applyEvent(event)
    for (const write of plan.documents) this.applyDocument(write)
  }

  applyTaskState(state: TaskState): void {
    let states = this.tasks.get(state.execution_id)
    if (states === undefined) this.tasks.set(state.execution_id, (states = new Map()))
    states.set(`${state.task}\u0000${state.item_index}`, state)
  }

  /** Adds an event that has its id (ids only grow). */
  applyEvent(event: ExecutionEvent): void {
    let list = this.events.get(event.execution_id)
    if (list === undefined) this.events.set(event.execution_id, (list = []))
    if (list.length === 0 || list.at(-1)!.seq < event.seq) list.push(event)
    else
      list.splice(
        upperBound(list, event.seq, (e) => e.seq),
        0,
        event,
      )
    const id = event.id!
    if (this.allEvents.length === 0 || this.allEvents.at(-1)!.id! < id) this.allEvents.push(event)
    else
      this.allEvents.splice(
        upperBound(this.allEvents, id, (e) => e.id!),
        0,
        event,
      )
    if (id >= this.nextEventId) this.nextEventId = id + 1
  }

  applyDocument(write: DocumentWrite): void {
    if (write.doc === null) {
      const collection = this.documents.get(write.collection)
      collection?.delete(write.id)
      if (collection?.size === 0) this.documents.delete(write.collection)
      return
    }
    let collection = this.documents.get(write.collection)
    if (collection === undefined) this.documents.set(write.collection, (collection = new Map()))
    collection.set(write.id, write.doc)
  }

  // ----- executions, task states, events -----------------------------------------------------------------

  getExecution(executionId: string): ExecutionRecord | undefined {
    const stored = this.executions.get(executionId)
    return stored === undefined ? undefined : structuredClone(stored.record)
  }

  findExecutionByIdempotencyKey(key: string): ExecutionRecord | undefined {
    const id = this.idempotencyKeys.get(key)
    return id === undefined ? undefined : this.getExecution(id)
  }

  listExecutions(query: ExecutionQuery): Page<ExecutionSummary> {
    const operation = 'listExecutions'
    const window = resolvePage(operation, query)
    const sort = resolveSort(operation, query, EXECUTION_SORT_FIELDS, { field: 'created_at', order: 'desc' })
    const statuses =
      query.status === undefined
        ? undefined
        : new Set<string>(Array.isArray(query.status) ? query.status : [query.status])
    const after =
      query.created_after === undefined
        ? undefined
        : timestampBound(operation, 'created_after', query.created_after)
    const before =
      query.created_before === undefined
        ? undefined
        : timestampBound(operation, 'created_before', query.created_before)
    const matches: ExecutionRecord[] = []
    for (const { record } of this.executions.values()) {
      if (query.workflow_id !== undefined && record.workflow_id !== query.workflow_id) continue
      if (statuses !== undefined && !statuses.has(record.status)) continue
      if (
        query.parent_execution_id !== undefined &&
        record.parent?.execution_id !== query.parent_execution_id
      )
        continue
      if (after !== undefined || before !== undefined) {
        const created = sortableTime(record.created_at)
        if (after !== undefined && created < after) continue
        if (before !== undefined && created > before) continue
      }
      matches.push(record)
    }
    matches.sort(executionOrder(sort.field, sort.descending))
    return {
      items: matches.slice(window.offset, window.offset + window.limit).map(summary),
      total: matches.length,
      page: window.page,
      limit: window.limit,
    }
  }

  getTaskStates(executionId: string): TaskState[] {
    const states = [...(this.tasks.get(executionId)?.values() ?? [])]
    states.sort((a, b) => compareText(a.task, b.task) || a.item_index - b.item_index)
    return structuredClone(states)
  }

  listEvents(executionId: string, afterSeq: number, limit: number): ExecutionEvent[] {
    const list = this.events.get(executionId)
    if (list === undefined || limit <= 0) return []
    const start = upperBound(list, afterSeq, (e) => e.seq)
    return structuredClone(list.slice(start, start + limit))
  }

  listAllEvents(afterId: number, limit: number, workflowId?: string): ExecutionEvent[] {
    const out: ExecutionEvent[] = []
    if (limit <= 0) return out
    for (let i = upperBound(this.allEvents, afterId, (e) => e.id!); i < this.allEvents.length; i++) {
      const event = this.allEvents[i]!
      if (workflowId !== undefined && event.workflow_id !== workflowId) continue
      out.push(structuredClone(event))
      if (out.length >= limit) break
    }
    return out
  }

  /** The finished, unleased executions a deletion removes, oldest finish first (see Store.deleteExecutions). */
  planExecutionDeletion(deletion: ResolvedDeletion, nowMs: number): string[] {
    const candidates: ExecutionRecord[] = []
    const consider = (stored: StoredExecution | undefined): void => {
      if (stored === undefined || !FINISHED_EXECUTION_STATUSES.has(stored.record.status)) return
      if (stored.lease !== undefined && stored.lease.expiresAtMs > nowMs) return
      const completed = stored.record.completed_at
      if (
        deletion.before !== undefined &&
        (completed === undefined || sortableTime(completed) >= deletion.before)
      )
        return
      candidates.push(stored.record)
    }
    if (deletion.ids !== undefined) for (const id of deletion.ids) consider(this.executions.get(id))
    else for (const stored of this.executions.values()) consider(stored)
    candidates.sort(executionOrder('completed_at', false))
    return candidates.slice(0, deletion.limit).map((record) => record.execution_id)
  }

  applyExecutionDeletion(executionIds: readonly string[]): void {
    const gone = new Set<string>()
    for (const id of executionIds) {
      const stored = this.executions.get(id)
      if (stored === undefined) continue
      gone.add(id)
      this.executions.delete(id)
      const key = stored.record.idempotency_key
      if (key !== undefined && this.idempotencyKeys.get(key) === id) this.idempotencyKeys.delete(key)
      this.tasks.delete(id)
      this.events.delete(id)
    }
    if (gone.size === 0) return
    let kept = 0
    for (const event of this.allEvents) if (!gone.has(event.execution_id)) this.allEvents[kept++] = event
    this.allEvents.length = kept
    for (const [checkpointId, checkpoint] of this.checkpoints)
      if (gone.has(checkpoint.execution_id)) this.checkpoints.delete(checkpointId)
  }

  // ----- checkpoints -------------------------------------------------------------------------------------

  applyCheckpoint(checkpoint: CheckpointRecord): void {
    this.checkpoints.set(checkpoint.checkpoint_id, checkpoint)
  }

  getCheckpoint(checkpointId: string): CheckpointRecord | undefined {
    const found = this.checkpoints.get(checkpointId)
    return found === undefined ? undefined : structuredClone(found)
  }

  listCheckpoints(executionId: string): CheckpointRecord[] {
    const found = [...this.checkpoints.values()].filter((c) => c.execution_id === executionId)
    found.sort(
      (a, b) =>
        compareText(sortableTime(a.created_at), sortableTime(b.created_at)) ||
        compareText(a.checkpoint_id, b.checkpoint_id),
    )
    return structuredClone(found)
  }

  // ----- leases ------------------------------------------------------------------------------------------

  planClaims(nodeId: string, leaseMs: number, limit: number, nowMs: number): LeaseChange[] {
    if (limit <= 0) return []
    const candidates: ExecutionRecord[] = []
    for (const { record, lease } of this.executions.values()) {
      if (!UNFINISHED.has(record.status)) continue
      if (lease !== undefined && lease.owner !== nodeId && lease.expiresAtMs > nowMs) continue
      candidates.push(record)
    }
    candidates.sort(executionOrder('created_at', false))
    const lease: Lease = { owner: nodeId, expiresAtMs: nowMs + leaseMs }
    return candidates.slice(0, limit).map((record) => [record.execution_id, { ...lease }])
  }

  planClaim(nodeId: string, executionId: string, leaseMs: number, nowMs: number): LeaseChange[] {
    const stored = this.executions.get(executionId)
    if (stored === undefined) return []
    const lease = stored.lease
    if (lease !== undefined && lease.owner !== nodeId && lease.expiresAtMs > nowMs) return []
    return [[executionId, { owner: nodeId, expiresAtMs: nowMs + leaseMs }]]
  }

  /** Only live leases are renewed: one that expired may already be another node's. */
  planRenewals(nodeId: string, executionIds: string[], leaseMs: number, nowMs: number): LeaseChange[] {
    const changes: LeaseChange[] = []
    for (const id of new Set(executionIds)) {
      const stored = this.executions.get(id)
      if (stored !== undefined && holds(stored.lease, nodeId, nowMs)) {
        changes.push([id, { owner: nodeId, expiresAtMs: nowMs + leaseMs }])
      }
    }
    return changes
  }

  planRelease(nodeId: string, executionId: string): LeaseChange[] {
    return this.executions.get(executionId)?.lease?.owner === nodeId ? [[executionId, undefined]] : []
  }

  applyLeases(changes: LeaseChange[]): void {
    for (const [id, lease] of changes) {
      const stored = this.executions.get(id)
      if (stored !== undefined) stored.lease = lease
    }
  }

  isUnfinished(executionId: string): boolean {
    const status = this.executions.get(executionId)?.record.status
    return status !== undefined && !FINISHED_EXECUTION_STATUSES.has(status)
  }

  // ----- documents and marks -----------------------------------------------------------------------------

  getDocument(collection: string, id: string): JsonObject | undefined {
    const doc = this.documents.get(collection)?.get(id)
    return doc === undefined ? undefined : structuredClone(doc)
  }

  hasDocument(collection: string, id: string): boolean {
    return this.documents.get(collection)?.has(id) ?? false
  }

  listDocuments(collection: string, query: DocumentQuery): Page<JsonObject> {
    const window = resolvePage('listDocuments', query)
    const sort = resolveSort('listDocuments', query, DOCUMENT_SORT_FIELDS, { field: 'id', order: 'asc' })
    const where = checkWhere('listDocuments', query.where)
    const matches: Array<[string, JsonObject]> = []
    for (const entry of this.documents.get(collection) ?? []) {
      if (matchesWhere(entry[1], where)) matches.push(entry)
    }
    sortDocuments(matches, sort.descending)
    return {
      items: matches
        .slice(window.offset, window.offset + window.limit)
        .map(([, doc]) => structuredClone(doc)),
      total: matches.length,
      page: window.page,
      limit: window.limit,
    }
  }

  /** The new expiry when the mark is (re)taken, undefined when a live mark exists. */
  planMark(scope: string, key: string, ttlMs: number | undefined, nowMs: number): number | undefined {
    const expires = this.marks.get(markKey(scope, key))
    if (expires !== undefined && expires > nowMs) return undefined
    return ttlMs === undefined ? Number.POSITIVE_INFINITY : nowMs + ttlMs
  }

  applyMark(scope: string, key: string, expiresAtMs: number): void {
    this.marks.set(markKey(scope, key), expiresAtMs)
  }

  /** Forgets marks that expired (they would be retaken anyway). Returns how many. */
  forgetExpiredMarks(nowMs: number): number {
    let forgotten = 0
    for (const [key, expires] of this.marks) {
      if (expires <= nowMs) {
        this.marks.delete(key)
        forgotten++
      }
    }
    return forgotten
  }
}

export function markKey(scope: string, key: string): string {
  return `${scope}\u0000${key}`
}

export function holds(lease: Lease | undefined, nodeId: string, nowMs: number): boolean {
  return lease !== undefined && lease.owner === nodeId && lease.expiresAtMs > nowMs
}

/** A copy through JSON: what a persistent store would keep. */
export function copy<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

function idempotencyConflict(key: string, holder: string): ConflictError {
  return new ConflictError(
    `commit: an execution with idempotency_key '${key}' already exists ('${holder}'); look it up with findExecutionByIdempotencyKey`,
    { idempotency_key: key, execution_id: holder },
  )
}

function summary(record: ExecutionRecord): ExecutionSummary {
  const { definition: _definition, ...rest } = record
  return structuredClone(rest)
}

/** Sort by a field, missing values last in both directions, ties by execution id in the same direction. */
function executionOrder(
  field: ExecutionSortField,
  descending: boolean,
): (a: ExecutionRecord, b: ExecutionRecord) => number {
  const sign = descending ? -1 : 1
  const key = (record: ExecutionRecord): string | undefined => {
    const value = record[field]
    return value === undefined ? undefined : field === 'status' ? value : sortableTime(value)
  }
  return (a, b) => {
    const ka = key(a)
    const kb = key(b)
    if (ka === undefined || kb === undefined) {
      if (ka !== kb) return ka === undefined ? 1 : -1
    } else if (ka !== kb) {
      return sign * compareText(ka, kb)
    }
    return sign * compareText(a.execution_id, b.execution_id)
  }
}

/** Index of the first element whose key is greater than `after` (the list is sorted by key). */
function upperBound<T>(list: readonly T[], after: number, key: (item: T) => number): number {
  let lo = 0
  let hi = list.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (key(list[mid]!) <= after) lo = mid + 1
    else hi = mid
  }
  return lo
}

function indexOfSeq(list: readonly ExecutionEvent[] | undefined, seq: number): number {
  if (list === undefined || list.length === 0) return -1
  const at = upperBound(list, seq - 1, (e) => e.seq)
  return at < list.length && list[at]!.seq === seq ? at : -1
}

/**
 * The file store: JSON files under a data dir, the state held in memory (InMemoryState) and loaded at init.
 * The Store methods are InMemoryStateStore's (shared with the memory store); this class adds the files,
 * and its `write*` hooks journal each change before applying it.
 *
 * Files (fixed names; ids and collection names never become file names, so no input can reach a path
 * outside the dir):
 * - `snapshot.json`: the whole state at generation G, written to a temp file, fsynced, renamed over the
 *   old one, then the dir fsynced.
 * - `journal-G.jsonl`: every write since that snapshot, one line per write (a whole commit batch is one
 *   line), `<crc32 hex> <json>\n`, appended and fsynced before the write becomes visible. On open, lines
 *   are replayed up to the first torn or corrupt one; the torn tail is cut off. A batch is thus either
 *   wholly on disk or not at all.
 * - `harmonia.lock`: the pid of the process that has the dir open. A lock whose pid is dead is taken over.
 *
 * When the journal grows past `compactBytes` (and at each open), a new snapshot at G+1 is written, then
 * `journal-(G+1).jsonl` starts and older journals are removed: a crash between the steps leaves a
 * snapshot and the journal of its own generation, never a journal replayed twice.
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
  ftruncateSync,
} from 'node:fs'
import path from 'node:path'
import { crc32 } from 'node:zlib'
import { HarmoniaError } from '../core/errors.ts'
import type { ExecutionEvent } from '../core/events.ts'
import type { Logger } from '../core/logger.ts'
import type {
  CheckpointRecord,
  ExecutionRecord,
  JsonObject,
  TaskState,
  WorkflowRecord,
} from '../core/model.ts'
import type { DocumentWrite, Store, StoreHealth } from '../core/store.ts'
import { InMemoryState, type CommitPlan, type Lease, type LeaseChange } from './in-memory-state.ts'
import { InMemoryStateStore } from './in-memory-state-store.ts'
import { releasePidLock, takePidLock } from './pid-lock.ts'

export interface FileStoreOptions {
  dataDir: string
  logger?: Logger
  /** A new snapshot is written when the journal passes this size. Default 64 MiB. */
  compactBytes?: number
}

export function createFileStore(options: FileStoreOptions): Store {
  return new FileStore(options)
}

const SNAPSHOT = 'snapshot.json'
const LOCK = 'harmonia.lock'
const JOURNAL = /^journal-(\d+)\.jsonl$/
const FORMAT = 1

/**
 * Stores of this process by dir (the pid in the lock file cannot tell them apart). A second store of the
 * same process opening a dir takes it over and fences the first off, as if its process had died: that is
 * what an in-process restart after a simulated crash needs, and the first one's later writes fail.
 */
const openDirs = new Map<string, FileStore>()

type Op =
  | ['w', WorkflowRecord]
  | ['wd', string]
  | ['c', SerialPlan]
  | ['xd', string[]]
  | ['cp', CheckpointRecord]
  | ['l', Array<[string, Lease | null]>]
  | ['d', DocumentWrite]
  | ['m', string, string, number | null]

interface SerialPlan {
  inserted: Array<[string, ExecutionRecord, Lease | null]>
  updated: Array<[string, ExecutionRecord]>
  tasks: TaskState[]
  events: ExecutionEvent[]
  documents: DocumentWrite[]
}

interface Snapshot {
  format: number
  generation: number
  workflows: WorkflowRecord[]
  executions: Array<[ExecutionRecord, Lease | null]>
  tasks: TaskState[]
  events: ExecutionEvent[]
  nextEventId: number
  checkpoints: CheckpointRecord[]
  documents: Array<[string, string, JsonObject]>
  marks: Array<[string, number | null]>
}

export class FileStore extends InMemoryStateStore {
  readonly kind = 'file' as const
  readonly #dir: string
  readonly #compactBytes: number
  #journalFd: number | undefined
  #journalBytes = 0
  #generation = 0
  #opened = false
  /** Why this store no longer writes, once fenced. */
  #fenced: string | undefined

  constructor(options: FileStoreOptions) {
    if (typeof options.dataDir !== 'string' || options.dataDir === '' || options.dataDir.includes('\0')) {
      throw new HarmoniaError('invalid_request', 'file store: dataDir must be a non-empty path', {
        details: { field: 'dataDir' },
      })
    }
    super('file', options.logger)
    this.#dir = path.resolve(options.dataDir)
    this.#compactBytes = options.compactBytes ?? 64 * 1024 * 1024
  }

  async init(): Promise<void> {
    if (this.#opened) return
    mkdirSync(this.#dir, { recursive: true })
    this.#lock()
    try {
      this.#load()
      this.#compact()
    } catch (error) {
      this.#unlock()
      throw error
    }
    this.#opened = true
  }

  async close(): Promise<void> {
    if (!this.#opened) return
    this.#opened = false
    if (this.#journalFd !== undefined) closeSync(this.#journalFd)
    this.#journalFd = undefined
    this.#unlock()
  }

  async health(): Promise<StoreHealth> {
    return this.#opened ? { ok: true } : { ok: false, detail: 'file store is not open' }
  }

  // ----- files -------------------------------------------------------------------------------------------

  #lock(): void {
    const previous = openDirs.get(this.#dir)
    if (previous !== undefined && previous !== this) {
      previous.#fence()
      openDirs.set(this.#dir, this)
      return
    }
    const lock = takePidLock(path.join(this.#dir, LOCK))
    if (!lock.taken) throw lockedError(this.#dir, lock.pid)
    openDirs.set(this.#dir, this)
  }

  /** Another store of this process took the dir over: this one stops writing. */
  #fence(reason = `data dir '${this.#dir}' was opened again by another store of this process`): void {
    this.#opened = false
    this.#fenced = reason
    if (this.#journalFd !== undefined) closeSync(this.#journalFd)
    this.#journalFd = undefined
  }

  #unlock(): void {
    if (openDirs.get(this.#dir) !== this) return
    openDirs.delete(this.#dir)
    releasePidLock(path.join(this.#dir, LOCK))
  }

  #load(): void {
    this.state = new InMemoryState()
    const text = readText(path.join(this.#dir, SNAPSHOT))
    if (text !== undefined) {
      const snapshot = JSON.parse(text) as Snapshot
      if (snapshot.format !== FORMAT) {
        throw new HarmoniaError(
          'store_error',
          `file store: ${SNAPSHOT} has unknown format ${snapshot.format}`,
        )
      }
      this.#generation = snapshot.generation
      this.#restore(snapshot)
    } else this.#generation = 0
    const journal = path.join(this.#dir, `journal-${this.#generation}.jsonl`)
    const data = existsSync(journal) ? readFileSync(journal) : Buffer.alloc(0)
    let offset = 0
    while (offset < data.length) {
      const end = data.indexOf(10, offset)
      if (end < 0) break // torn tail: no newline
      const line = data.subarray(offset, end).toString('utf8')
      const space = line.indexOf(' ')
      const body = line.slice(space + 1)
      if (space !== 8 || Number.parseInt(line.slice(0, 8), 16) !== crc32(body)) break
      let op: Op
      try {
        op = JSON.parse(body) as Op
      } catch {
        break
      }
      this.#apply(op)
      offset = end + 1
    }
    this.#journalBytes = offset
  }

  #restore(s: Snapshot): void {
    const st = this.state
    for (const w of s.workflows) st.applyWorkflow(w)
    const plan: CommitPlan = {
      inserted: new Map(),
      updated: new Map(),
      tasks: s.tasks,
      events: [],
      documents: [],
    }
    for (const [record, lease] of s.executions)
      plan.inserted.set(record.execution_id, { record, lease: lease ?? undefined })
    st.applyCommit(plan)
    for (const e of s.events) st.applyEvent(e)
    st.nextEventId = Math.max(st.nextEventId, s.nextEventId)
    for (const c of s.checkpoints) st.applyCheckpoint(c)
    for (const [collection, id, doc] of s.documents) st.applyDocument({ collection, id, doc })
    for (const [key, expires] of s.marks) st.marks.set(key, expires ?? Number.POSITIVE_INFINITY)
  }

  /** Writes a snapshot at the next generation and starts its empty journal. */
  #compact(): void {
    const st = this.state
    const generation = this.#generation + 1
    const snapshot: Snapshot = {
      format: FORMAT,
      generation,
      workflows: [...st.workflows.values()].flat(),
      executions: [...st.executions.values()].map((e) => [e.record, e.lease ?? null]),
      tasks: [...st.tasks.values()].flatMap((m) => [...m.values()]),
      events: st.allEvents,
      nextEventId: st.nextEventId,
      checkpoints: [...st.checkpoints.values()],
      documents: [...st.documents].flatMap(([c, docs]) =>
        [...docs].map(([id, doc]) => [c, id, doc] as [string, string, JsonObject]),
      ),
      marks: [...st.marks].map(([k, v]) => [k, Number.isFinite(v) ? v : null]),
    }
    if (this.#journalFd !== undefined) closeSync(this.#journalFd)
    this.#journalFd = undefined
    writeAtomic(this.#dir, SNAPSHOT, JSON.stringify(snapshot))
    this.#generation = generation
    const fd = openSync(path.join(this.#dir, `journal-${generation}.jsonl`), 'w')
    ftruncateSync(fd, 0)
    fsyncSync(fd)
    syncDir(this.#dir)
    this.#journalFd = fd
    this.#journalBytes = 0
    for (const name of readdirSync(this.#dir)) {
      const m = JOURNAL.exec(name)
      if ((m !== null && Number(m[1]) !== generation) || name.startsWith('.tmp-'))
        rmSync(path.join(this.#dir, name), { force: true })
    }
  }

  /** Appends one op and fsyncs it: once this returns, the op survives a crash. */
  #write(op: Op): void {
    if (this.#journalFd === undefined) {
      throw new HarmoniaError(
        'store_error',
        this.#fenced === undefined
          ? 'file store is not open; call init()'
          : `file store: ${this.#fenced}; this one no longer writes`,
      )
    }
    const body = JSON.stringify(op)
    const line = Buffer.from(`${crc32(body).toString(16).padStart(8, '0')} ${body}\n`, 'utf8')
    const fd = this.#journalFd
    const start = this.#journalBytes
    try {
      let written = 0
      while (written < line.length) {
        written += writeSync(fd, line, written, line.length - written, start + written)
      }
      fdatasyncSync(fd)
    } catch (error) {
      // A partial line would hide every later one from replay: cut it off, or stop writing at all.
      try {
        ftruncateSync(fd, start)
      } catch {
        this.#fence('a journal write failed and its partial line could not be cut off; reopen the store')
      }
      throw new HarmoniaError('store_error', `file store: writing the journal failed: ${String(error)}`, {
        cause: error,
      })
    }
    this.#journalBytes = start + line.length
  }

  /** After an op is both durable and applied. */
  #maybeCompact(): void {
    if (this.#journalBytes > this.#compactBytes) this.#compact()
  }

  #apply(op: Op): void {
    const st = this.state
    switch (op[0]) {
      case 'w':
        st.applyWorkflow(op[1])
        break
      case 'wd':
        st.deleteWorkflow(op[1])
        break
      case 'c':
        st.applyCommit(fromSerial(op[1]))
        break
      case 'xd':
        st.applyExecutionDeletion(op[1])
        break
      case 'cp':
        st.applyCheckpoint(op[1])
        break
      case 'l':
        st.applyLeases(op[1].map(([id, lease]) => [id, lease ?? undefined]))
        break
      case 'd':
        st.applyDocument(op[1])
        break
      case 'm':
        st.applyMark(op[1], op[2], op[3] ?? Number.POSITIVE_INFINITY)
        break
    }
  }

  #do(op: Op): void {
    this.#write(op)
    this.#apply(op)
    this.#maybeCompact()
  }

  // ----- writes: journaled, then applied -----------------------------------------------------------------

  protected writeWorkflow(record: WorkflowRecord): void {
    this.#do(['w', record])
  }

  protected writeWorkflowDeletion(workflowId: string): void {
    this.#do(['wd', workflowId])
  }

  protected writeCommit(plan: CommitPlan): void {
    // The plan's objects are fresh copies: the applied state may keep them.
    const serial = toSerial(plan)
    this.#write(['c', serial])
    this.state.applyCommit(plan)
    this.#maybeCompact()
  }

  protected writeExecutionDeletion(executionIds: string[]): void {
    this.#do(['xd', executionIds])
  }

  protected writeCheckpoint(checkpoint: CheckpointRecord): void {
    this.#do(['cp', checkpoint])
  }

  protected writeLeases(changes: LeaseChange[]): void {
    this.#do(['l', changes.map(([id, lease]): [string, Lease | null] => [id, lease ?? null])])
  }

  protected writeDocument(write: DocumentWrite): void {
    this.#do(['d', write])
  }

  protected writeMark(scope: string, key: string, expiresAtMs: number): void {
    this.#do(['m', scope, key, Number.isFinite(expiresAtMs) ? expiresAtMs : null])
  }
}

function toSerial(plan: CommitPlan): SerialPlan {
  return {
    inserted: [...plan.inserted].map(([id, s]) => [id, s.record, s.lease ?? null]),
    updated: [...plan.updated],
    tasks: plan.tasks,
    events: plan.events,
    documents: plan.documents,
  }
}

function fromSerial(s: SerialPlan): CommitPlan {
  return {
    inserted: new Map(s.inserted.map(([id, record, lease]) => [id, { record, lease: lease ?? undefined }])),
    updated: new Map(s.updated),
    tasks: s.tasks,
    events: s.events,
    documents: s.documents,
  }
}

/** temp file + fsync + rename + fsync of the dir. */
function writeAtomic(dir: string, name: string, text: string): void {
  const temp = path.join(dir, `.tmp-${name}-${process.pid}`)
  const fd = openSync(temp, 'w')
  try {
    const data = Buffer.from(text, 'utf8')
    let written = 0
    while (written < data.length) written += writeSync(fd, data, written)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(temp, path.join(dir, name))
  syncDir(dir)
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

function readText(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8')
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw error
  }
}

function lockedError(dir: string, pid: number | undefined): HarmoniaError {
  return new HarmoniaError(
    'store_error',
    `file store: data dir '${dir}' is open in another process${pid === undefined ? '' : ` (pid ${pid})`}; only one process may open it`,
    { details: { data_dir: dir, ...(pid === undefined ? {} : { pid }) } },
  )
}

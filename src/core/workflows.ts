/**
 * Workflow definitions: create, update (a new revision each time), drafts, versions, delete. Validation
 * happens here, so every entry point (API, CLI, MCP, templates) saves only definitions that compile.
 */
import { systemClock, type Clock } from './clock.ts'
import type { ComponentResolver } from './component.ts'
import { ConflictError, InvalidRequestError, NotFoundError, type ValidationIssue } from './errors.ts'
import { newId } from './ids.ts'
import type { JsonObject, WorkflowDefinition, WorkflowRecord } from './model.ts'
import type { Page, Store, WorkflowQuery } from './store.ts'
import { compileWorkflow, validateWorkflow } from './validate.ts'

export type WorkflowChangeType = 'workflow_created' | 'workflow_updated' | 'workflow_deleted'

export interface WorkflowChange {
  type: WorkflowChangeType
  timestamp: string
  workflow_id: string
  data: { name?: string; revision?: number; status?: string }
}

export interface WorkflowServiceOptions {
  store: Store
  components: ComponentResolver
  clock?: Clock
  /**
   * `actions` (default): a component that is not registered is accepted (a remote one may register later;
   * running such a task fails with component_error), an action a registered component lacks is not.
   */
  unknownComponents?: 'error' | 'actions' | 'ignore'
}

/** Ids given by clients: letters, digits, `.`, `_`, `-`, `:`; 1 to 128 characters. */
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/

export interface WorkflowService {
  /** Saves a new workflow (published, or a draft). A `workflow_id` in the body is used when free. */
  create(definition: unknown, options?: { draft?: boolean; workflowId?: string }): Promise<WorkflowRecord>
  /** Publishes a new revision. */
  update(workflowId: string, definition: unknown): Promise<WorkflowRecord>
  /** Saves a draft revision; the last published revision stays what executions run by default. */
  saveDraft(workflowId: string, definition: unknown): Promise<WorkflowRecord>
  get(workflowId: string, revision?: number): Promise<WorkflowRecord>
  list(query: WorkflowQuery): Promise<Page<WorkflowRecord>>
  versions(workflowId: string): Promise<WorkflowRecord[]>
  delete(workflowId: string): Promise<void>
  /** Every problem of a definition (empty when valid); unknown components are reported as problems too. */
  validate(definition: unknown): ValidationIssue[]
  onChange(listener: (change: WorkflowChange) => void): () => void
}

export function createWorkflowService(options: WorkflowServiceOptions): WorkflowService {
  const { store, components } = options
  const clock = options.clock ?? systemClock
  const listeners = new Set<(change: WorkflowChange) => void>()
  const unknownComponents = options.unknownComponents ?? 'actions'

  const compile = (definition: unknown): WorkflowDefinition => {
    const body = stripRecordFields(definition)
    return compileWorkflow(body, { components, unknownComponents }).definition
  }

  const announce = (
    type: WorkflowChangeType,
    record: Pick<WorkflowRecord, 'workflow_id'> & Partial<WorkflowRecord>,
  ) => {
    const change: WorkflowChange = {
      type,
      timestamp: new Date(clock.now()).toISOString(),
      workflow_id: record.workflow_id,
      data: {
        ...(record.definition === undefined ? {} : { name: record.definition.name }),
        ...(record.revision === undefined ? {} : { revision: record.revision }),
        ...(record.status === undefined ? {} : { status: record.status }),
      },
    }
    for (const listener of listeners) {
      try {
        listener(change)
      } catch {
        // A failing listener must not break saving.
      }
    }
  }

  const mustGet = async (workflowId: string, revision?: number): Promise<WorkflowRecord> => {
    const record = await store.getWorkflow(workflowId, revision)
    if (record === undefined) {
      throw new NotFoundError(
        'workflow_not_found',
        revision === undefined
          ? `Workflow with ID '${workflowId}' not found`
          : `Workflow with ID '${workflowId}' has no revision ${revision}`,
        { workflow_id: workflowId },
      )
    }
    return record
  }

  const saveRevision = async (
    workflowId: string,
    definition: unknown,
    status: 'published' | 'draft',
  ): Promise<WorkflowRecord> => {
    const normalized = compile(definition)
    const previous = await mustGet(workflowId)
    const revisions = await store.listWorkflowRevisions(workflowId)
    const revision = Math.max(...revisions.map((r) => r.revision)) + 1
    const record: WorkflowRecord = {
      workflow_id: workflowId,
      revision,
      definition: normalized,
      status,
      created_at: previous.created_at,
      updated_at: new Date(clock.now()).toISOString(),
    }
    await store.saveWorkflow(record)
    announce('workflow_updated', record)
    return record
  }

  return {
    async create(definition, createOptions = {}) {
      const requestedId = createOptions.workflowId ?? idFromBody(definition)
      if (requestedId !== undefined && !ID_PATTERN.test(requestedId)) {
        throw new InvalidRequestError(
          `workflow_id '${requestedId}' is not valid: use 1 to 128 letters, digits, '.', '_', '-' or ':'`,
        )
      }
      const normalized = compile(definition)
      const workflowId = requestedId ?? newId('wf')
      if (requestedId !== undefined && (await store.getWorkflow(requestedId)) !== undefined) {
        throw new ConflictError(
          `Workflow with ID '${requestedId}' already exists; update it with PUT instead`,
          {
            workflow_id: requestedId,
          },
        )
      }
      const now = new Date(clock.now()).toISOString()
      const record: WorkflowRecord = {
        workflow_id: workflowId,
        revision: 1,
        definition: normalized,
        status: createOptions.draft === true ? 'draft' : 'published',
        created_at: now,
        updated_at: now,
      }
      await store.saveWorkflow(record)
      announce('workflow_created', record)
      return record
    },
    update: (workflowId, definition) => saveRevision(workflowId, definition, 'published'),
    saveDraft: (workflowId, definition) => saveRevision(workflowId, definition, 'draft'),
    get: (workflowId, revision) => mustGet(workflowId, revision),
    list: (query) => store.listWorkflows(query),
    async versions(workflowId) {
      const revisions = await store.listWorkflowRevisions(workflowId)
      if (revisions.length === 0) {
        throw new NotFoundError('workflow_not_found', `Workflow with ID '${workflowId}' not found`, {
          workflow_id: workflowId,
        })
      }
      return revisions
    },
    async delete(workflowId) {
      if (!(await store.deleteWorkflow(workflowId))) {
        throw new NotFoundError('workflow_not_found', `Workflow with ID '${workflowId}' not found`, {
          workflow_id: workflowId,
        })
      }
      announce('workflow_deleted', { workflow_id: workflowId })
    },
    validate(definition) {
      return validateWorkflow(stripRecordFields(definition), { components, unknownComponents: 'error' })
    },
    onChange(listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
  }
}

/** Fields of a saved record that clients send back on update; they are not part of the definition. */
const RECORD_FIELDS = ['workflow_id', 'id', 'revision', 'status', 'created_at', 'updated_at']

function stripRecordFields(definition: unknown): unknown {
  if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) return definition
  const copy: JsonObject = { ...(definition as JsonObject) }
  for (const field of RECORD_FIELDS) delete copy[field]
  return copy
}

function idFromBody(definition: unknown): string | undefined {
  if (definition === null || typeof definition !== 'object' || Array.isArray(definition)) return undefined
  const id = (definition as JsonObject)['workflow_id']
  return typeof id === 'string' ? id : undefined
}

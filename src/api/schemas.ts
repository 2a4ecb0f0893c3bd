/**
 * The wire schemas of every route, declared once: Fastify validates bodies, queries and parameters with
 * them, and @fastify/swagger turns the same objects into the OpenAPI document. Answers are serialized with
 * JSON.stringify (see app.ts), so response schemas document and never filter.
 *
 * Workflow definitions are the exception to validation by schema: the workflow service compiles them and
 * reports every problem at once (422 with task, field and message), so routes that take a definition only
 * require an object here and document the full shape.
 */
import { ExecutionStatus } from '../core/model.ts'

const EXECUTION_STATUSES = Object.values(ExecutionStatus)

const str = { type: 'string' } as const
const dateTime = { type: 'string', format: 'date-time' } as const
const nullableDateTime = { type: ['string', 'null'], format: 'date-time' } as const
const anyJson = {} as const
const openObject = { type: 'object', additionalProperties: true } as const

// ----- shared components (registered with addSchema, referenced as 'Name#') ------------------------------

export const ErrorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every failure answers in this shape.',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message', 'details'],
      properties: {
        code: {
          type: 'string',
          description: 'Stable code, listed in docs/errors.md',
          example: 'workflow_not_found',
        },
        message: { type: 'string', example: "Workflow with ID 'wf-x' not found" },
        details: { description: 'Structured context; for validation_error, `errors` lists every problem' },
      },
    },
  },
} as const

export const RetryPolicySchema = {
  $id: 'RetryPolicy',
  description: 'A number of retries (short form) or a policy (long form).',
  anyOf: [
    { type: 'integer', minimum: 0 },
    {
      type: 'object',
      properties: {
        max_attempts: { type: 'integer', minimum: 1 },
        initial_delay_ms: { type: 'number', minimum: 0 },
        backoff_factor: { type: 'number', minimum: 1 },
        max_delay_ms: { type: 'number', minimum: 0 },
        retriable_errors: { type: 'array', items: str },
        jitter: { type: 'number', minimum: 0, maximum: 1 },
      },
    },
  ],
} as const

export const TaskDefinitionSchema = {
  $id: 'TaskDefinition',
  type: 'object',
  required: ['component', 'action'],
  additionalProperties: true,
  properties: {
    name: { type: 'string', description: 'The key in `tasks` (required when `tasks` is a list)' },
    description: str,
    component: { type: 'string', example: 'http' },
    action: { type: 'string', example: 'request' },
    input: { description: 'Any JSON; strings may hold `${...}` expressions' },
    depends_on: { type: 'array', items: str },
    timeout: { type: 'number', exclusiveMinimum: 0, description: 'Seconds' },
    retry: { $ref: 'RetryPolicy#' },
    when: { type: 'string', description: 'A condition; the task is skipped when false' },
    for_each: { description: 'An expression yielding a list, or a list' },
    concurrency: { type: 'integer', minimum: 1 },
    on_failure: { enum: ['fail', 'continue'] },
    trigger_rule: { enum: ['none_failed_min_one_success', 'all_success', 'all_done'] },
    metadata: openObject,
  },
} as const

export const WorkflowDefinitionSchema = {
  $id: 'WorkflowDefinition',
  type: 'object',
  description:
    'A workflow definition as Tekton documents it. Checked by the workflow service, which answers 422 with every problem.',
  required: ['name', 'tasks'],
  additionalProperties: true,
  properties: {
    workflow_id: { type: 'string', description: 'Optional id to create the workflow under' },
    name: { type: 'string', example: 'example_workflow' },
    description: str,
    version: str,
    tasks: {
      description: 'Tasks keyed by name, or a list of tasks that each have a `name`',
      anyOf: [
        { type: 'object', additionalProperties: { $ref: 'TaskDefinition#' } },
        { type: 'array', items: { $ref: 'TaskDefinition#' } },
      ],
    },
    input: {
      type: 'object',
      description: 'Map of input properties: {type, enum, default, format, description, required}',
    },
    input_schema: { type: 'object', description: 'A full JSON Schema for the input' },
    output: { type: 'object', description: 'Output mapping; values may hold expressions' },
    output_schema: openObject,
    on_failure: { enum: ['fail', 'continue'] },
    timeout: { type: 'number', exclusiveMinimum: 0, description: 'Seconds for the whole execution' },
    concurrency: { type: 'integer', minimum: 1 },
    metadata: openObject,
  },
} as const

/**
 * A body that is a workflow definition: the schema only asks for an object, and documents the full shape;
 * the workflow service checks the rest and lists every problem (app.ts honours the marker).
 */
export const DEFINITION_MARKER = 'x-validated-by'
export const DefinitionBody = {
  [DEFINITION_MARKER]: 'workflow-service',
  description: 'A workflow definition; the workflow service checks it and answers 422 listing every problem',
  allOf: [{ $ref: 'WorkflowDefinition#' }],
} as const

export const WorkflowSchema = {
  $id: 'Workflow',
  description: 'A saved workflow: its definition with the record fields merged in.',
  allOf: [
    { $ref: 'WorkflowDefinition#' },
    {
      type: 'object',
      required: ['workflow_id', 'created_at', 'updated_at'],
      properties: {
        workflow_id: str,
        revision: { type: 'integer' },
        status: { enum: ['published', 'draft'] },
        created_at: dateTime,
        updated_at: dateTime,
      },
    },
  ],
} as const

export const ExecutionOptionsSchema = {
  $id: 'ExecutionOptions',
  type: 'object',
  additionalProperties: true,
  properties: {
    async: {
      type: 'boolean',
      description: 'false: answer when the execution ends (up to `timeout`), as ?wait=true does',
    },
    timeout: { type: 'number', exclusiveMinimum: 0, description: 'Seconds for the whole execution' },
    retry_policy: {
      type: 'object',
      description: 'Default retry policy of tasks that have none',
      properties: {
        max_retries: { type: 'integer', minimum: 0 },
        retry_interval: { type: 'number', minimum: 0, description: 'Seconds' },
      },
    },
  },
} as const

const progress = {
  type: 'object',
  properties: {
    completed_tasks: { type: 'integer' },
    total_tasks: { type: 'integer' },
    current_task: { type: ['string', 'null'] },
    current_tasks: { type: 'array', items: str },
    percent: { type: 'integer', minimum: 0, maximum: 100 },
  },
} as const

const executionProperties = {
  execution_id: str,
  workflow_id: str,
  workflow_name: str,
  workflow_revision: { type: 'integer' },
  status: { enum: EXECUTION_STATUSES },
  input: openObject,
  output: anyJson,
  error: {
    type: ['object', 'null'],
    properties: { code: str, message: str, task: str, details: anyJson },
  },
  execution_options: { $ref: 'ExecutionOptions#' },
  progress,
  created_at: dateTime,
  updated_at: dateTime,
  started_at: nullableDateTime,
  completed_at: nullableDateTime,
  last_event_seq: { type: 'integer', description: 'Sequence number of the last event' },
  restored_from_checkpoint: str,
  parent: openObject,
  requested: { enum: ['cancel', 'pause'] },
} as const

export const ExecutionSchema = {
  $id: 'Execution',
  type: 'object',
  required: ['execution_id', 'workflow_id', 'status', 'created_at', 'updated_at'],
  properties: executionProperties,
} as const

const taskState = {
  type: 'object',
  properties: {
    status: { enum: ['pending', 'running', 'retrying', 'completed', 'failed', 'skipped', 'cancelled'] },
    started_at: nullableDateTime,
    completed_at: nullableDateTime,
    output: anyJson,
    error: {
      type: ['object', 'null'],
      properties: { code: str, message: str, retriable: { type: 'boolean' } },
    },
    attempts: { type: 'integer' },
    input: anyJson,
    next_attempt_at: dateTime,
    item_count: { type: 'integer' },
    items: { type: 'array', description: 'for_each items, by index', items: openObject },
  },
} as const

export const TaskStatusMapSchema = {
  $id: 'TaskStatusMap',
  type: 'object',
  description: 'Task states keyed by task name',
  additionalProperties: taskState,
} as const

export const ExecutionDetailSchema = {
  $id: 'ExecutionDetail',
  type: 'object',
  required: [...ExecutionSchema.required, 'progress', 'task_status'],
  properties: { ...executionProperties, task_status: { $ref: 'TaskStatusMap#' } },
} as const

export const CheckpointSchema = {
  $id: 'Checkpoint',
  type: 'object',
  required: ['checkpoint_id', 'execution_id', 'workflow_id', 'name', 'created_at', 'task_states'],
  properties: {
    checkpoint_id: str,
    execution_id: str,
    workflow_id: str,
    name: str,
    description: { type: ['string', 'null'] },
    created_at: dateTime,
    task_states: { $ref: 'TaskStatusMap#' },
  },
} as const

export const EventMessageSchema = {
  $id: 'EventMessage',
  type: 'object',
  description:
    'An execution event as stored, listed and streamed. `seq` is gapless per execution; `id` is global and increasing.',
  required: ['type', 'timestamp', 'data'],
  properties: {
    type: { type: 'string', example: 'task_completed' },
    timestamp: dateTime,
    execution_id: str,
    workflow_id: str,
    data: anyJson,
    seq: { type: 'integer' },
    id: { type: 'integer' },
  },
} as const

export const ComponentSchema = {
  $id: 'Component',
  type: 'object',
  properties: {
    name: str,
    description: str,
    kind: { enum: ['builtin', 'remote'] },
    base_url: str,
    actions: { type: 'array', items: { $ref: 'Action#' } },
    health: openObject,
  },
} as const

export const ActionSchema = {
  $id: 'Action',
  type: 'object',
  properties: { name: str, description: str, input_schema: openObject, output_schema: openObject },
} as const

/** Registered on the app so routes can reference them and the OpenAPI document lists them once. */
export const SHARED_SCHEMAS = [
  ErrorSchema,
  RetryPolicySchema,
  TaskDefinitionSchema,
  WorkflowDefinitionSchema,
  WorkflowSchema,
  ExecutionOptionsSchema,
  ExecutionSchema,
  TaskStatusMapSchema,
  ExecutionDetailSchema,
  CheckpointSchema,
  EventMessageSchema,
  ActionSchema,
  ComponentSchema,
] as const

const ref = (id: string) => ({ $ref: `${id}#` }) as const
const errorRef = ref('Error')

/** The error answers a route may give, by status. */
export function errorResponses(...statuses: number[]): Record<number, { $ref: string; description: string }> {
  const descriptions: Record<number, string> = {
    400: 'invalid_request: malformed JSON or a field that does not match the schema',
    401: 'authentication_failed: no API key, or an unknown one',
    403: "permission_denied: the key's scope does not allow this route",
    404: 'not found',
    409: 'conflict: the resource exists, or the action does not apply in its status (details.reason invalid_state)',
    413: 'payload_too_large',
    422: 'validation_error: details.errors lists every problem',
    429: 'rate_limit_exceeded',
    500: 'component_error or execution_error',
  }
  return Object.fromEntries(
    statuses.map((s) => [s, { ...errorRef, description: descriptions[s] ?? 'error' }]),
  )
}

const list = (item: object) =>
  ({
    type: 'object',
    required: ['items', 'total', 'page', 'limit'],
    properties: {
      items: { type: 'array', items: item },
      total: { type: 'integer' },
      page: { type: 'integer' },
      limit: { type: 'integer' },
    },
  }) as const

// ----- parameters -----------------------------------------------------------------------------------------

const id = (name: string, description: string) =>
  ({
    type: 'object',
    required: [name],
    properties: { [name]: { type: 'string', minLength: 1, maxLength: 256, description } },
  }) as const

export const WorkflowIdParams = id('workflow_id', 'Workflow id')
export const ExecutionIdParams = id('execution_id', 'Execution id')
export const CheckpointIdParams = id('checkpoint_id', 'Checkpoint id')
export const ComponentParams = id('name', 'Component name')
export const ActionParams = {
  type: 'object',
  required: ['name', 'action'],
  properties: { name: { type: 'string', minLength: 1 }, action: { type: 'string', minLength: 1 } },
} as const

// ----- queries --------------------------------------------------------------------------------------------

const paging = {
  page: { type: 'integer', minimum: 1, default: 1, description: '1-based page number' },
  limit: {
    type: 'integer',
    minimum: 1,
    maximum: 1000,
    default: 20,
    description: 'Items per page (max 1000)',
  },
  sort_order: { enum: ['asc', 'desc'], default: 'desc' },
} as const

export const WorkflowListQuery = {
  type: 'object',
  properties: {
    ...paging,
    sort_by: { enum: ['created_at', 'updated_at', 'name'], default: 'created_at' },
    search: {
      type: 'string',
      maxLength: 200,
      description: 'Case-insensitive substring of name or description',
    },
    include_drafts: { type: 'boolean', default: true },
  },
} as const

export const WorkflowGetQuery = {
  type: 'object',
  properties: {
    revision: { type: 'integer', minimum: 1, description: 'A past revision (default: the latest)' },
  },
} as const

export const ExecutionListQuery = {
  type: 'object',
  properties: {
    ...paging,
    sort_by: {
      enum: ['created_at', 'updated_at', 'started_at', 'completed_at', 'status'],
      default: 'created_at',
    },
    workflow_id: str,
    status: {
      type: 'string',
      description: `One status or a comma-separated list of: ${EXECUTION_STATUSES.join(', ')}`,
      example: 'running,paused',
    },
    parent_execution_id: str,
    created_after: { ...dateTime, description: 'Inclusive' },
    created_before: { ...dateTime, description: 'Inclusive' },
  },
} as const

export const WaitQuery = {
  type: 'object',
  properties: {
    wait: {
      type: 'boolean',
      default: false,
      description: 'Answer when the execution ends (up to execution_options.timeout), with its detail',
    },
  },
} as const

export const EventsQuery = {
  type: 'object',
  properties: {
    after: { type: 'integer', minimum: 0, default: 0, description: 'Events with seq greater than this' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  },
} as const

export const StreamQuery = {
  type: 'object',
  properties: {
    after: {
      type: 'integer',
      minimum: 0,
      description:
        'Replay persisted events after this position (seq for one execution, global id for all); SSE Last-Event-ID wins',
    },
    workflow_id: { type: 'string', description: 'All-executions streams: only this workflow' },
    api_key: { type: 'string', description: 'API key, for clients that cannot set headers' },
  },
} as const

// ----- bodies ---------------------------------------------------------------------------------------------

export const StartExecutionBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    workflow_id: { type: 'string', minLength: 1 },
    workflow: {
      type: 'object',
      description:
        'An inline workflow definition (shape of WorkflowDefinition), run without saving it; checked like a saved one (422)',
    },
    revision: { type: 'integer', minimum: 1 },
    input: { type: 'object', default: {} },
    execution_options: ref('ExecutionOptions'),
  },
} as const

export const ExecuteWorkflowBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    input: { type: 'object', default: {} },
    execution_options: ref('ExecutionOptions'),
    revision: { type: 'integer', minimum: 1 },
  },
} as const

export const CancelBody = {
  type: 'object',
  additionalProperties: false,
  properties: { reason: { type: 'string', maxLength: 1000 } },
} as const

export const EmptyBody = { type: 'object', additionalProperties: false, properties: {} } as const

export const CheckpointBody = {
  type: 'object',
  additionalProperties: false,
  properties: { name: { type: 'string', maxLength: 200 }, description: { type: 'string', maxLength: 2000 } },
} as const

export const RestoreBody = {
  type: 'object',
  additionalProperties: false,
  properties: { execution_options: ref('ExecutionOptions') },
} as const

export const LegacyCheckpointBody = {
  type: 'object',
  additionalProperties: false,
  required: ['execution_id'],
  properties: { execution_id: { type: 'string', minLength: 1 }, ...CheckpointBody.properties },
} as const

export const LegacyRestoreBody = {
  type: 'object',
  additionalProperties: false,
  required: ['checkpoint_id'],
  properties: { checkpoint_id: { type: 'string', minLength: 1 }, ...RestoreBody.properties },
} as const

export const RunActionBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    input: { description: "The action's input (Harmonia's name)" },
    params: { description: 'The same, under the name earlier Tekton clients use' },
    timeout: { type: 'number', exclusiveMinimum: 0, maximum: 86400, description: 'Seconds (default 300)' },
  },
} as const

// ----- answers ----------------------------------------------------------------------------------------------

export const WorkflowList = list(ref('Workflow'))
export const ExecutionList = list(ref('Execution'))
export const CheckpointList = list(ref('Checkpoint'))

export const WorkflowVersions = {
  type: 'object',
  properties: {
    workflow_id: str,
    items: { type: 'array', items: ref('Workflow') },
    total: { type: 'integer' },
  },
} as const

export const ValidationResult = {
  type: 'object',
  required: ['valid', 'errors'],
  properties: {
    valid: { type: 'boolean' },
    errors: {
      type: 'array',
      items: { type: 'object', properties: { task: str, field: str, message: str } },
    },
  },
} as const

export const SuccessAnswer = {
  type: 'object',
  required: ['success', 'message'],
  properties: { success: { type: 'boolean' }, message: str },
} as const

export const DeleteExecutionAnswer = {
  type: 'object',
  required: ['success', 'message', 'execution_id'],
  properties: { success: { type: 'boolean' }, message: str, execution_id: str },
} as const

export const PruneBody = {
  type: 'object',
  additionalProperties: false,
  properties: {
    finished_before: { type: 'string', minLength: 1, description: 'ISO 8601 timestamp (exclusive)' },
    older_than_days: { type: 'number', minimum: 0, description: 'Finished more than this many days ago' },
  },
} as const

export const PruneAnswer = {
  type: 'object',
  required: ['deleted', 'finished_before'],
  properties: {
    deleted: { type: 'integer', description: 'Executions deleted' },
    finished_before: { type: 'string', description: 'The bound applied, ISO 8601' },
  },
} as const

export const ControlAnswer = {
  type: 'object',
  required: ['success', 'message', 'execution_id', 'status'],
  properties: {
    success: { type: 'boolean' },
    message: str,
    execution_id: str,
    status: { type: 'string', description: 'For cancel: "cancelling"; for pause and resume: the status now' },
  },
} as const

export const EventsPage = {
  type: 'object',
  required: ['execution_id', 'items', 'after', 'next_after', 'has_more'],
  properties: {
    execution_id: str,
    items: { type: 'array', items: ref('EventMessage') },
    after: { type: 'integer' },
    limit: { type: 'integer' },
    next_after: { type: 'integer', description: 'Pass as `after` for the next page' },
    has_more: { type: 'boolean' },
  },
} as const

export const ComponentList = {
  type: 'object',
  properties: { items: { type: 'array', items: ref('Component') }, total: { type: 'integer' } },
} as const

export const ActionList = {
  type: 'object',
  properties: {
    component: str,
    items: { type: 'array', items: ref('Action') },
    total: { type: 'integer' },
  },
} as const

export const ActionRunAnswer = {
  type: 'object',
  properties: {
    success: { type: 'boolean' },
    component: str,
    action: str,
    output: anyJson,
    duration_ms: { type: 'number' },
  },
} as const

export const HealthAnswer = {
  type: 'object',
  properties: {
    status: { enum: ['healthy', 'unhealthy'] },
    name: str,
    version: str,
    uptime_seconds: { type: 'number' },
    store: { type: 'object', properties: { kind: str, ok: { type: 'boolean' }, detail: str } },
    engine: openObject,
    cluster: {
      type: 'object',
      description: 'This node and the live nodes sharing its store (one on the embedded stores)',
      properties: {
        node_id: str,
        live_nodes: { type: 'integer' },
        nodes: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              node_id: str,
              hostname: str,
              pid: { type: 'integer' },
              started_at: dateTime,
              last_seen: dateTime,
              running_executions: { type: 'integer' },
              running_tasks: { type: 'integer' },
            },
          },
        },
      },
    },
    timestamp: dateTime,
  },
} as const

export const ReadyAnswer = {
  type: 'object',
  properties: { ready: { type: 'boolean' }, reason: str },
} as const

export const RootAnswer = {
  type: 'object',
  properties: {
    name: str,
    version: str,
    description: str,
    status: str,
    endpoints: openObject,
  },
} as const

export { EXECUTION_STATUSES }

/**
 * The wire shapes the client sends and receives: Tekton's documented Harmonia API (snake_case), as the
 * server answers it (src/api/wire-format.ts, src/api/schemas.ts) over the records of src/core/model.ts and
 * the events of src/core/events.ts. Declared here (types, and the status and event names as const objects)
 * because the client is browser-safe and never imports the server side; keep them in step with those files.
 *
 * Terminology (as in the model): a workflow is a named, versioned definition of tasks; an execution is one
 * run of it; an attempt is one invocation of a task; a checkpoint is a snapshot of an execution's task
 * states; a template is a parameterized workflow; a component offers named actions.
 */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }
export type JsonObject = { [key: string]: JsonValue }

export const ExecutionStatus = {
  pending: 'pending',
  running: 'running',
  paused: 'paused',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
} as const
export type ExecutionStatus = (typeof ExecutionStatus)[keyof typeof ExecutionStatus]

export const TaskStatus = {
  pending: 'pending',
  running: 'running',
  retrying: 'retrying',
  completed: 'completed',
  failed: 'failed',
  skipped: 'skipped',
  cancelled: 'cancelled',
} as const
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus]

export const EventType = {
  execution_started: 'execution_started',
  execution_completed: 'execution_completed',
  execution_failed: 'execution_failed',
  execution_cancelled: 'execution_cancelled',
  execution_paused: 'execution_paused',
  execution_resumed: 'execution_resumed',
  execution_rerun: 'execution_rerun',
  task_started: 'task_started',
  task_progress: 'task_progress',
  task_completed: 'task_completed',
  task_failed: 'task_failed',
  task_retrying: 'task_retrying',
  task_skipped: 'task_skipped',
  task_cancelled: 'task_cancelled',
} as const
export type EventType = (typeof EventType)[keyof typeof EventType]

// ----- definitions ------------------------------------------------------------------------------------------

export interface RetryPolicySpec {
  /** Total attempts, the first included. */
  max_attempts?: number
  initial_delay_ms?: number
  backoff_factor?: number
  max_delay_ms?: number
  retriable_errors?: string[]
  /** 0..1: the share of each delay drawn at random. */
  jitter?: number
}

export interface TaskDefinition {
  name: string
  title?: string
  description?: string
  component: string
  action: string
  input?: JsonValue
  depends_on?: string[]
  /** Seconds. */
  timeout?: number
  /** A number of retries (short form) or a policy. */
  retry?: number | RetryPolicySpec
  when?: string
  for_each?: string | JsonValue[]
  concurrency?: number
  on_failure?: 'fail' | 'continue'
  trigger_rule?: 'none_failed_min_one_success' | 'all_success' | 'all_done'
  metadata?: JsonObject
}

/**
 * A workflow definition as sent to the server. `tasks` is keyed by task name; Tekton's client library also
 * sends a list of task objects with `name`, which the server accepts too.
 */
export interface WorkflowDefinition {
  name: string
  description?: string
  version?: string
  tasks: Record<string, TaskDefinition> | TaskDefinition[]
  /** Tekton's map of input properties (`{x: {type, default, ...}}`). */
  input?: Record<string, JsonObject>
  /** A full JSON Schema for the input (wins over `input`). */
  input_schema?: JsonObject
  output_schema?: JsonObject
  /** Output mapping over `tasks` and `workflow.input`. */
  output?: JsonObject
  on_failure?: 'fail' | 'continue'
  /** Seconds for the whole execution. */
  timeout?: number
  concurrency?: number
  metadata?: JsonObject
}

/** A saved workflow: its definition with the record fields merged in. */
export interface Workflow extends Omit<WorkflowDefinition, 'tasks'> {
  tasks: Record<string, TaskDefinition>
  workflow_id: string
  /** Incremented on every published change. */
  revision: number
  status: 'published' | 'draft'
  created_at: string
  updated_at: string
}

// ----- executions -------------------------------------------------------------------------------------------

export interface ExecutionOptions {
  /** Seconds for the whole execution. */
  timeout?: number
  /** Default retry policy for tasks that have none (`retry_interval` in seconds). */
  retry_policy?: { max_retries?: number; retry_interval?: number }
  /** false: the start request answers when the execution ends. */
  async?: boolean
  [key: string]: JsonValue | undefined
}

export interface Progress {
  completed_tasks: number
  total_tasks: number
  current_task: string | null
  current_tasks: string[]
  /** 0..100. */
  percent: number
}

export interface ExecutionError {
  code: string
  message: string
  task?: string
  details?: JsonValue
}

export interface TaskError {
  code: string
  message: string
  retriable: boolean
  details?: JsonValue
}

/** An execution as lists, start and rerun answers show it (no task states). */
export interface Execution {
  execution_id: string
  workflow_id: string
  workflow_name: string
  workflow_revision: number
  status: ExecutionStatus
  input: JsonObject
  output: JsonValue
  error: ExecutionError | null
  execution_options: ExecutionOptions
  progress: Progress
  created_at: string
  updated_at: string
  started_at: string | null
  completed_at: string | null
  /** Sequence number of the last persisted event of this execution. */
  last_event_seq: number
  parent?: { execution_id: string; task: string; item_index: number }
  restored_from_checkpoint?: string
  /** A status change asked for but not yet applied. */
  requested?: 'cancel' | 'pause'
}

/** The state of one task, or of one `for_each` item (then with `index`). */
export interface TaskStatusEntry {
  status: TaskStatus
  started_at: string | null
  completed_at: string | null
  output: JsonValue
  error: TaskError | null
  attempts: number
  input: JsonValue
  next_attempt_at?: string
  item_count?: number
  /** A `for_each` task's items, ordered by index. */
  items?: Array<TaskStatusEntry & { index: number }>
}

/** `GET /executions/{id}`: the execution with the status of every task, keyed by task name. */
export interface ExecutionDetail extends Execution {
  task_status: Record<string, TaskStatusEntry>
}

export interface Checkpoint {
  checkpoint_id: string
  execution_id: string
  workflow_id: string
  name: string
  description: string | null
  created_at: string
  task_states: Record<string, TaskStatusEntry>
}

// ----- answers ----------------------------------------------------------------------------------------------

/** A page of a list: `{items, total, page, limit}`. */
export interface Page<T> {
  items: T[]
  total: number
  page: number
  limit: number
}

export interface SuccessAnswer {
  success: boolean
  message: string
  [key: string]: JsonValue
}

/** Cancel, stop, pause and resume answer this; cancel's status is `cancelling`. */
export interface ControlAnswer {
  success: boolean
  message: string
  execution_id: string
  status: ExecutionStatus | 'cancelling'
}

export interface ValidationIssue {
  task?: string
  field?: string
  message: string
}

export interface ValidationResult {
  valid: boolean
  errors: ValidationIssue[]
}

export interface WorkflowVersions {
  workflow_id: string
  items: Workflow[]
  total: number
}

/** A page of an execution's persisted events. */
export interface EventsPage {
  execution_id: string
  items: ExecutionEventMessage[]
  after: number
  limit: number
  /** Pass as `after` for the next page. */
  next_after: number
  has_more: boolean
}

export interface Action {
  name: string
  description?: string
  input_schema?: JsonObject
  output_schema?: JsonObject
}

export interface Component {
  name: string
  description?: string
  kind: 'builtin' | 'remote'
  base_url?: string
  actions: Action[]
  health?: JsonObject
  /** Remote components: source, limits, circuit figures (docs/components.md). */
  remote?: JsonObject
}

export interface ComponentList {
  items: Component[]
  total: number
  /** Harmonia's Hermes registration, when HERMES_URL is set. */
  hermes?: JsonObject
}

/** `POST /components`: a remote component speaking Tekton's component protocol. */
export interface RemoteComponentRegistration {
  name: string
  base_url: string
  description?: string
  actions?: Array<Omit<Action, 'name'> & { name: string }> | Record<string, Omit<Action, 'name'>>
  timeout_ms?: number
  max_concurrency?: number
  failure_threshold?: number
  cool_down_ms?: number
}

export interface ActionList {
  component: string
  items: Action[]
  total: number
}

export interface ActionRunAnswer {
  success: boolean
  component: string
  action: string
  output: JsonValue
  duration_ms: number
}

export interface Health {
  status: 'healthy' | 'unhealthy'
  name: string
  version: string
  uptime_seconds: number
  store: { kind: string; ok: boolean; detail?: string }
  engine: JsonObject
  timestamp: string
}

export interface Ready {
  ready: boolean
  reason?: string
}

/** The error body of every failed request. */
export interface ErrorBody {
  error: { code: string; message: string; details: JsonValue }
}

// ----- templates ----------------------------------------------------------------------------------------------

export type ParameterType =
  'string' | 'text' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'select'

export interface ParameterSpec {
  type: ParameterType
  required?: boolean
  default?: JsonValue
  /** The allowed values of a `select` parameter. */
  options?: JsonValue[]
  enum?: JsonValue[]
  description?: string
  title?: string
}

/** `POST /templates`: a template from a saved workflow (`workflow_id`) or from a definition. */
export interface TemplateInput {
  name: string
  description?: string
  workflow_id?: string
  workflow_definition?: WorkflowDefinition
  parameters?: Record<string, ParameterSpec>
  tags?: string[]
  category?: string
  is_public?: boolean
  metadata?: JsonObject
}

export interface Template {
  template_id: string
  name: string
  description: string
  version: number
  workflow_definition: WorkflowDefinition
  parameters: Record<string, ParameterSpec>
  tags: string[]
  category?: string
  is_public: boolean
  metadata: JsonObject
  created_at: string
  updated_at: string
  usage_count: number
}

export interface InstantiateTemplateRequest {
  name?: string
  description?: string
  parameter_values?: JsonObject
  /** A past version of the template (default: the latest). */
  version?: number
}

/** A workflow made from a template. */
export type InstantiatedWorkflow = Workflow & { template_id: string }

/** Tekton's template file: the body of `POST /templates/import`, the answer of `GET /templates/{id}/export`. */
export interface TemplateFile {
  name: string
  description?: string
  workflow_definition: {
    name?: string
    tasks: JsonValue
    input?: JsonValue
    output?: JsonValue
    version?: string
    metadata?: JsonObject
  }
  parameters?: Record<
    string,
    {
      name?: string
      parameter_type?: string
      options?: JsonValue[]
      default_value?: JsonValue
      required?: boolean
      description?: string
    }
  >
  tags?: string[]
  is_public?: boolean
  metadata?: JsonObject
  [key: string]: JsonValue | undefined
}

export interface TemplateImportAnswer {
  template_id: string
  name: string
  /** Always null: a template holds its definition; `instantiate` makes the workflow. */
  workflow_definition_id?: string | null
  [key: string]: JsonValue | undefined
}

// ----- webhooks -----------------------------------------------------------------------------------------------

export type WebhookTriggerType =
  'http_post' | 'http_get' | 'scheduled' | 'event_triggered' | 'component_callback' | 'manual'

export type WebhookAuthType = 'none' | 'basic' | 'bearer' | 'api_key' | 'hmac'

/** An inbound webhook definition. */
export interface WebhookInput {
  name: string
  /** The path the webhook is called on. */
  endpoint: string
  trigger_type?: WebhookTriggerType
  workflow_id?: string
  template_id?: string
  /** Workflow input name → payload path or expression. */
  input_mapping?: Record<string, string>
  enabled?: boolean
  auth_type?: WebhookAuthType
  auth_config?: JsonObject
  description?: string
  metadata?: JsonObject
  /** A header whose value identifies a delivery (e.g. X-GitHub-Delivery); Idempotency-Key always works. */
  delivery_id_header?: string | null
  /** Calls accepted per minute (per node); 0: unlimited. Default 600. */
  rate_limit_per_minute?: number
}

export interface Webhook extends WebhookInput {
  webhook_id: string
  /** Where the webhook is called: `/hooks/<endpoint>` (no Harmonia API key; its own auth applies). */
  hook_path?: string
  created_at: string
  updated_at: string
  [key: string]: JsonValue | undefined
}

/** The answer of `POST /webhooks/{id}/deliver`: what the delivery started. */
export interface WebhookDeliveryAnswer {
  execution_id?: string
  status?: string
  [key: string]: JsonValue | undefined
}

/** One call a webhook received (`/hooks/<endpoint>`) or replayed (`deliver`), as recorded. */
export interface WebhookCall {
  call_id: string
  webhook_id: string
  received_at: string
  method: string
  /** null for a replay. */
  source_ip: string | null
  /** Secrets masked. */
  headers: JsonObject
  query: JsonObject
  source: 'http' | 'replay'
  /** The parsed payload (an excerpt when large). */
  payload: JsonValue
  /** The `Idempotency-Key` (or the webhook's `delivery_id_header`) of the call. */
  delivery_id?: string
  result: 'started' | 'duplicate' | 'rejected' | 'failed'
  status_code?: number
  error?: { code: string; message: string }
  execution_id: string | null
  duration_ms: number
}

// ----- stream messages ----------------------------------------------------------------------------------------

/** One persisted execution event as streams and `GET /executions/{id}/events` carry it. */
export interface ExecutionEventMessage {
  type: EventType
  timestamp: string
  execution_id: string
  workflow_id: string
  data: { [key: string]: JsonValue }
  /** Per-execution sequence number, gapless from 1. */
  seq: number
  /** Global event id (the position of `/events` streams). */
  id?: number
}

/** The first message of an execution's stream: its detail when the stream (re)started. */
export interface ExecutionSnapshotMessage {
  type: 'snapshot'
  timestamp: string
  execution_id: string
  workflow_id: string
  data: ExecutionDetail
  /** The position the replay continues from. */
  seq: number
}

/** The first message of an all-executions stream: the unfinished executions. */
export interface EventsSnapshotMessage {
  type: 'snapshot'
  timestamp: string
  data: { executions: Execution[]; total: number }
}

export type ExecutionStreamMessage = ExecutionSnapshotMessage | ExecutionEventMessage
export type EventsStreamMessage = EventsSnapshotMessage | ExecutionEventMessage

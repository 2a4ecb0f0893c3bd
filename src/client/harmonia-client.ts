/**
 * `HarmoniaClient`: typed methods for every route of the Harmonia API (Tekton's documented shape), grouped
 * by resource — `client.workflows.create(definition)`, `client.executions.start({ workflow_id })` — plus the
 * live streams (`watchExecution`, `watchEvents`) and `waitForExecution`. Fetch-based, so the same code runs
 * in Node and in browsers. Every failure is a HarmoniaApiError with the server's `code` and the HTTP `status`.
 *
 * ```ts
 * const client = new HarmoniaClient({ baseUrl: 'http://127.0.0.1:8002', apiKey })
 * const workflow = await client.workflows.create(definition)
 * const execution = await client.executions.start({ workflow_id: workflow.workflow_id, input: { n: 3 } })
 * for await (const message of client.watchExecution(execution.execution_id)) console.log(message.type)
 * ```
 */
import {
  watchEvents,
  watchExecution,
  waitForExecution,
  type WaitOptions,
  type WatchDeps,
  type WatchEventsOptions,
  type WatchOptions,
} from './execution-watch.ts'
import { HttpTransport, segment, type FetchFunction, type Query } from './http-transport.ts'
import { createLlmApi, type LlmApi } from './llm-api.ts'
import {
  createSchedulesApi,
  createTriggersApi,
  type SchedulesApi,
  type TriggersApi,
} from './schedules-api.ts'
import { createSignalsApi, type SignalsApi } from './signals-api.ts'
import { createSubscriptionsApi, type SubscriptionsApi } from './subscriptions-api.ts'
import type {
  Action,
  ActionList,
  ActionRunAnswer,
  Checkpoint,
  Component,
  ComponentList,
  ControlAnswer,
  EventsPage,
  EventsStreamMessage,
  Execution,
  ExecutionDetail,
  ExecutionOptions,
  ExecutionStatus,
  ExecutionStreamMessage,
  Health,
  InstantiateTemplateRequest,
  InstantiatedWorkflow,
  JsonObject,
  JsonValue,
  Page,
  Ready,
  RemoteComponentRegistration,
  SuccessAnswer,
  Template,
  TemplateFile,
  TemplateImportAnswer,
  TemplateInput,
  ValidationResult,
  Webhook,
  WebhookCall,
  WebhookDeliveryAnswer,
  WebhookInput,
  Workflow,
  WorkflowDefinition,
  WorkflowVersions,
} from './wire-types.ts'

export interface HarmoniaClientOptions {
  /** The server, e.g. `http://127.0.0.1:8002`. */
  baseUrl: string
  /** Sent as `X-API-Key` (or `Authorization: Bearer`, see apiKeyHeader); as `?api_key=` on WebSockets. */
  apiKey?: string
  apiKeyHeader?: 'x-api-key' | 'authorization'
  /** A fetch implementation (default: the global one). */
  fetch?: FetchFunction
  /** Longest a request may take. Default 30 s. */
  timeoutMs?: number
  /** Path of the versioned API. Default `/api/v1` (the server also serves `/api`). */
  apiPrefix?: string
  /** Extra headers for every request. */
  headers?: Readonly<Record<string, string>>
}

/** Per-call options every method accepts. */
export interface CallOptions {
  signal?: AbortSignal
  timeoutMs?: number
}

export interface ListQuery {
  page?: number
  limit?: number
  sort_order?: 'asc' | 'desc'
}

export interface WorkflowListQuery extends ListQuery {
  sort_by?: 'created_at' | 'updated_at' | 'name'
  /** Case-insensitive substring of name or description. */
  search?: string
  include_drafts?: boolean
}

export interface ExecutionListQuery extends ListQuery {
  sort_by?: 'created_at' | 'updated_at' | 'started_at' | 'completed_at' | 'status'
  workflow_id?: string
  /** One status or several (any of them). */
  status?: ExecutionStatus | readonly ExecutionStatus[]
  parent_execution_id?: string
  /** ISO timestamps, inclusive. */
  created_after?: string
  created_before?: string
}

export interface StartOptions extends CallOptions {
  /** Starting again with the same key answers the first execution instead of starting another. */
  idempotencyKey?: string
  /** Answer once the execution ended (with its detail), up to its timeout. */
  wait?: boolean
}

/** `POST /executions`: a saved workflow by `workflow_id` (optionally a `revision`) or an inline `workflow`. */
export type StartExecutionRequest = {
  input?: JsonObject
  execution_options?: ExecutionOptions
} & (
  | { workflow_id: string; revision?: number; workflow?: never }
  | { workflow: WorkflowDefinition; workflow_id?: never }
)

export interface ExecuteWorkflowRequest {
  input?: JsonObject
  execution_options?: ExecutionOptions
  revision?: number
}

export interface WorkflowsApi {
  create(definition: WorkflowDefinition, options?: CallOptions): Promise<Workflow>
  list(query?: WorkflowListQuery, options?: CallOptions): Promise<Page<Workflow>>
  /** The latest revision, or a past one. */
  get(workflowId: string, query?: { revision?: number }, options?: CallOptions): Promise<Workflow>
  /** Publishes a new revision. */
  update(workflowId: string, definition: WorkflowDefinition, options?: CallOptions): Promise<Workflow>
  delete(workflowId: string, options?: CallOptions): Promise<SuccessAnswer>
  execute(workflowId: string, request?: ExecuteWorkflowRequest, options?: StartOptions): Promise<Execution>
  /** Saves a draft revision without publishing it (a first draft creates the workflow, unpublished). */
  saveDraft(workflowId: string, definition: WorkflowDefinition, options?: CallOptions): Promise<Workflow>
  versions(workflowId: string, options?: CallOptions): Promise<WorkflowVersions>
  /** Checks a definition without saving it; every problem is listed. */
  validate(definition: WorkflowDefinition | JsonObject, options?: CallOptions): Promise<ValidationResult>
}

export interface ExecutionsApi {
  /** Answers the new execution (status `pending`); with `wait`, its detail once it ended. */
  start(request: StartExecutionRequest, options?: StartOptions): Promise<Execution>
  list(query?: ExecutionListQuery, options?: CallOptions): Promise<Page<Execution>>
  get(executionId: string, options?: CallOptions): Promise<ExecutionDetail>
  cancel(executionId: string, request?: { reason?: string }, options?: CallOptions): Promise<ControlAnswer>
  /** The Tekton UI shell's alias of cancel. */
  stop(executionId: string, request?: { reason?: string }, options?: CallOptions): Promise<ControlAnswer>
  pause(executionId: string, options?: CallOptions): Promise<ControlAnswer>
  resume(executionId: string, options?: CallOptions): Promise<ControlAnswer>
  /** Runs a failed or cancelled execution again from its unfinished tasks. */
  rerun(executionId: string, options?: CallOptions): Promise<Execution>
  /** Deletes a finished execution with its history (admin scope); 409 `conflict` while it runs. */
  delete(executionId: string, options?: CallOptions): Promise<SuccessAnswer & { execution_id: string }>
  /** Deletes every execution that finished before `finished_before`, or more than `older_than_days` ago. */
  prune(
    request: { finished_before: string } | { older_than_days: number },
    options?: CallOptions,
  ): Promise<{ deleted: number; finished_before: string }>
  checkpoint(
    executionId: string,
    request?: { name?: string; description?: string },
    options?: CallOptions,
  ): Promise<Checkpoint>
  listCheckpoints(executionId: string, options?: CallOptions): Promise<Page<Checkpoint>>
  /** Persisted events with `seq` greater than `after` (default 0), at most `limit` (default 100). */
  events(
    executionId: string,
    query?: { after?: number; limit?: number },
    options?: CallOptions,
  ): Promise<EventsPage>
}

export interface CheckpointsApi {
  get(checkpointId: string, options?: CallOptions): Promise<Checkpoint>
  /** A new execution from the checkpoint: tasks completed there keep their outputs. */
  restore(
    checkpointId: string,
    request?: { execution_options?: ExecutionOptions },
    options?: CallOptions,
  ): Promise<Execution>
}

export interface TemplatesApi {
  create(template: TemplateInput, options?: CallOptions): Promise<Template>
  list(
    /** `tags`: comma-separated; a template must have every one. */
    query?: ListQuery & { search?: string; tag?: string; tags?: string; category?: string },
    options?: CallOptions,
  ): Promise<Page<Template>>
  get(templateId: string, options?: CallOptions & { version?: number }): Promise<Template>
  /** Every version of a template, oldest first. */
  versions(templateId: string, options?: CallOptions): Promise<{ items: Template[]; total: number }>
  update(templateId: string, changes: Partial<TemplateInput>, options?: CallOptions): Promise<Template>
  delete(templateId: string, options?: CallOptions): Promise<SuccessAnswer>
  instantiate(
    templateId: string,
    request: InstantiateTemplateRequest,
    options?: CallOptions,
  ): Promise<InstantiatedWorkflow>
  /** Imports a Tekton template file. */
  import(file: TemplateFile, options?: CallOptions): Promise<TemplateImportAnswer>
  /** The template as a Tekton template file (the latest version, or `version`). */
  export(templateId: string, options?: CallOptions & { version?: number }): Promise<TemplateFile>
}

export interface WebhooksApi {
  create(webhook: WebhookInput, options?: CallOptions): Promise<Webhook>
  list(query?: ListQuery, options?: CallOptions): Promise<Page<Webhook>>
  /** Delivers a payload to the webhook as if it had been called (for testing). */
  deliver(webhookId: string, payload?: JsonValue, options?: CallOptions): Promise<WebhookDeliveryAnswer>
  /** A webhook (its auth secrets masked). */
  get(webhookId: string, options?: CallOptions): Promise<Webhook>
  /** Fields not sent are kept; `***` keeps a secret. */
  update(webhookId: string, changes: Partial<WebhookInput>, options?: CallOptions): Promise<Webhook>
  delete(webhookId: string, options?: CallOptions): Promise<SuccessAnswer & { webhook_id: string }>
  /** The calls the webhook received (and replays), newest first; headers' secrets masked. */
  calls(
    webhookId: string,
    query?: { page?: number; limit?: number },
    options?: CallOptions,
  ): Promise<Page<WebhookCall>>
}

export interface ComponentsApi {
  list(options?: CallOptions): Promise<ComponentList>
  get(name: string, options?: CallOptions): Promise<Component>
  actions(name: string, options?: CallOptions): Promise<ActionList>
  action(name: string, action: string, options?: CallOptions): Promise<Action>
  /** Runs one action directly, outside any workflow. `timeout` is in seconds (server default 300). */
  runAction(
    name: string,
    action: string,
    input?: JsonValue,
    options?: CallOptions & { timeout?: number; idempotencyKey?: string },
  ): Promise<ActionRunAnswer>
  /** Registers (or replaces) a remote component; its capabilities are read from it. */
  register(registration: RemoteComponentRegistration, options?: CallOptions): Promise<Component>
  /** Unregisters a remote component. */
  unregister(name: string, options?: CallOptions): Promise<{ success: boolean; message: string }>
  /** Reads a remote component's capabilities again. */
  refresh(name: string, options?: CallOptions): Promise<Component>
}

export class HarmoniaClient {
  readonly workflows: WorkflowsApi
  readonly executions: ExecutionsApi
  readonly checkpoints: CheckpointsApi
  readonly templates: TemplatesApi
  readonly webhooks: WebhooksApi
  readonly components: ComponentsApi
  /** Cron schedules that start a workflow or template. */
  readonly schedules: SchedulesApi
  /** Event triggers: start a workflow when an execution of another completes or fails. */
  readonly triggers: TriggersApi
  /** LLM features: create a workflow from a sentence, explain a failure, optimize (docs/llm.md). */
  readonly llm: LlmApi
  /** Outbound notifications: subscriptions and their signed deliveries. */
  readonly subscriptions: SubscriptionsApi
  /** Signals to executions waiting in `core.wait_for_signal`. */
  readonly signals: SignalsApi
  readonly #http: HttpTransport
  readonly #prefix: string
  readonly #watchDeps: WatchDeps

  constructor(options: HarmoniaClientOptions) {
    this.#http = new HttpTransport(options)
    this.#prefix = `/${(options.apiPrefix ?? '/api/v1').replace(/^\/+|\/+$/g, '')}`.replace(/^\/$/, '')
    const api = <T>(method: string, path: string, init: ApiCall = {}): Promise<T> =>
      this.#api<T>(method, path, init)
    const id = segment

    this.workflows = {
      create: async (definition, options) => api('POST', '/workflows', { body: definition, options }),
      list: async (query = {}, options) => api('GET', '/workflows', { query: { ...query }, options }),
      get: async (workflowId, query = {}, options) =>
        api('GET', `/workflows/${id(workflowId, 'workflow id')}`, { query: { ...query }, options }),
      update: async (workflowId, definition, options) =>
        api('PUT', `/workflows/${id(workflowId, 'workflow id')}`, { body: definition, options }),
      delete: async (workflowId, options) =>
        api('DELETE', `/workflows/${id(workflowId, 'workflow id')}`, { options }),
      execute: async (workflowId, request = {}, options = {}) =>
        api('POST', `/workflows/${id(workflowId, 'workflow id')}/execute`, startCall(request, options)),
      saveDraft: async (workflowId, definition, options) =>
        api('POST', `/workflows/${id(workflowId, 'workflow id')}/draft`, { body: definition, options }),
      versions: async (workflowId, options) =>
        api('GET', `/workflows/${id(workflowId, 'workflow id')}/versions`, { options }),
      validate: async (definition, options) =>
        api('POST', '/workflows/validate', { body: definition, options }),
    }

    const executionPath = (executionId: string, rest = ''): string =>
      `/executions/${id(executionId, 'execution id')}${rest}`
    this.executions = {
      start: async (request, options = {}) => api('POST', '/executions', startCall(request, options)),
      list: async (query = {}, options) => api('GET', '/executions', { query: { ...query }, options }),
      get: async (executionId, options) => api('GET', executionPath(executionId), { options }),
      cancel: async (executionId, request = {}, options) =>
        api('POST', executionPath(executionId, '/cancel'), { body: request, options }),
      stop: async (executionId, request = {}, options) =>
        api('POST', executionPath(executionId, '/stop'), { body: request, options }),
      pause: async (executionId, options) =>
        api('POST', executionPath(executionId, '/pause'), { body: {}, options }),
      resume: async (executionId, options) =>
        api('POST', executionPath(executionId, '/resume'), { body: {}, options }),
      rerun: async (executionId, options) =>
        api('POST', executionPath(executionId, '/rerun'), { body: {}, options }),
      delete: async (executionId, options) => api('DELETE', executionPath(executionId), { options }),
      prune: async (request, options) => api('POST', '/executions/prune', { body: request, options }),
      checkpoint: async (executionId, request = {}, options) =>
        api('POST', executionPath(executionId, '/checkpoint'), { body: request, options }),
      listCheckpoints: async (executionId, options) =>
        api('GET', executionPath(executionId, '/checkpoints'), { options }),
      events: async (executionId, query = {}, options) =>
        api('GET', executionPath(executionId, '/events'), { query: { ...query }, options }),
    }

    this.checkpoints = {
      get: async (checkpointId, options) =>
        api('GET', `/checkpoints/${id(checkpointId, 'checkpoint id')}`, { options }),
      restore: async (checkpointId, request = {}, options) =>
        api('POST', `/checkpoints/${id(checkpointId, 'checkpoint id')}/restore`, { body: request, options }),
    }

    const templatePath = (templateId: string): string => `/templates/${id(templateId, 'template id')}`
    this.templates = {
      create: async (template, options) => api('POST', '/templates', { body: template, options }),
      list: async (query = {}, options) => api('GET', '/templates', { query: { ...query }, options }),
      get: async (templateId, options = {}) =>
        api('GET', templatePath(templateId), { query: versionQuery(options.version), options }),
      versions: async (templateId, options) =>
        api('GET', `${templatePath(templateId)}/versions`, { options }),
      update: async (templateId, changes, options) =>
        api('PUT', templatePath(templateId), { body: changes, options }),
      delete: async (templateId, options) => api('DELETE', templatePath(templateId), { options }),
      instantiate: async (templateId, request, options) =>
        api('POST', `${templatePath(templateId)}/instantiate`, { body: request, options }),
      import: async (file, options) => api('POST', '/templates/import', { body: file, options }),
      export: async (templateId, options = {}) =>
        api('GET', `${templatePath(templateId)}/export`, { query: versionQuery(options.version), options }),
    }

    const webhookPath = (webhookId: string): string => `/webhooks/${id(webhookId, 'webhook id')}`
    this.webhooks = {
      create: async (webhook, options) => api('POST', '/webhooks', { body: webhook, options }),
      list: async (query = {}, options) => api('GET', '/webhooks', { query: { ...query }, options }),
      deliver: async (webhookId, payload = {}, options) =>
        api('POST', `/webhooks/${id(webhookId, 'webhook id')}/deliver`, { body: payload, options }),
      get: async (webhookId, options) => api('GET', webhookPath(webhookId), { options }),
      update: async (webhookId, changes, options) =>
        api('PUT', webhookPath(webhookId), { body: changes, options }),
      delete: async (webhookId, options) => api('DELETE', webhookPath(webhookId), { options }),
      calls: async (webhookId, query = {}, options) =>
        api('GET', `${webhookPath(webhookId)}/calls`, { query: { ...query }, options }),
    }

    const componentPath = (name: string): string => `/components/${id(name, 'component name')}`
    this.components = {
      list: async (options) => api('GET', '/components', { options }),
      get: async (name, options) => api('GET', componentPath(name), { options }),
      actions: async (name, options) => api('GET', `${componentPath(name)}/actions`, { options }),
      action: async (name, action, options) =>
        api('GET', `${componentPath(name)}/actions/${id(action, 'action name')}`, { options }),
      runAction: async (name, action, input = {}, options = {}) =>
        api('POST', `${componentPath(name)}/actions/${id(action, 'action name')}`, {
          body: { input, ...(options.timeout === undefined ? {} : { timeout: options.timeout }) },
          headers: idempotencyHeader(options.idempotencyKey),
          options,
        }),
      register: async (registration, options) =>
        api('POST', '/components', { body: registration as unknown as JsonValue, options }),
      unregister: async (name, options) => api('DELETE', componentPath(name), { options }),
      refresh: async (name, options) => api('POST', `${componentPath(name)}/refresh`, { options }),
    }

    this.llm = createLlmApi(api, id)
    this.schedules = createSchedulesApi(api, id)
    this.triggers = createTriggersApi(api, id)
    this.subscriptions = createSubscriptionsApi(api, id)
    this.signals = createSignalsApi(api, id)

    this.#watchDeps = {
      http: this.#http,
      getExecution: (executionId, signal) =>
        this.executions.get(executionId, signal === undefined ? {} : { signal }),
      listEvents: (executionId, after, limit, signal) =>
        this.executions.events(executionId, { after, limit }, signal === undefined ? {} : { signal }),
    }
  }

  /** The server's base URL as the client uses it. */
  get baseUrl(): string {
    return this.#http.baseUrl
  }

  /** `GET /health`: answers an unhealthy server's report (503) too, rather than throwing. */
  async health(options: CallOptions = {}): Promise<Health> {
    return (
      await this.#http.request<Health>('GET', '/health', { ...callInit(options), acceptStatuses: [503] })
    ).body
  }

  /** `GET /ready`: `{ready: false, reason}` while the server is stopping or its store fails. */
  async ready(options: CallOptions = {}): Promise<Ready> {
    return (await this.#http.request<Ready>('GET', '/ready', { ...callInit(options), acceptStatuses: [503] }))
      .body
  }

  /** `GET /metrics`: Prometheus text. */
  async metrics(options: CallOptions = {}): Promise<string> {
    return (
      await this.#http.request<string>('GET', '/metrics', { ...callInit(options), responseType: 'text' })
    ).body
  }

  /**
   * One execution's stream: its snapshot, then each event once and in `seq` order (reconnecting from the
   * last one after a break); ends after the execution's final event. Start later with `after: seq`.
   */
  watchExecution(executionId: string, options: WatchOptions = {}): AsyncGenerator<ExecutionStreamMessage> {
    return watchExecution(this.#watchDeps, executionId, options)
  }

  /** Every execution's events (or one workflow's), live from now or after a global event id; endless. */
  watchEvents(options: WatchEventsOptions = {}): AsyncGenerator<EventsStreamMessage> {
    return watchEvents(this.#watchDeps, options)
  }

  /** The execution once it finished (completed, failed or cancelled); `timeout` HarmoniaApiError after timeoutMs. */
  waitForExecution(executionId: string, options: WaitOptions = {}): Promise<ExecutionDetail> {
    return waitForExecution(this.#watchDeps, executionId, options)
  }

  async #api<T>(method: string, path: string, init: ApiCall): Promise<T> {
    const answer = await this.#http.request<T>(method, `${this.#prefix}${path}`, {
      ...(init.query === undefined ? {} : { query: init.query }),
      ...(init.body === undefined ? {} : { body: init.body }),
      ...(init.headers === undefined ? {} : { headers: init.headers }),
      ...callInit(init.options ?? {}),
    })
    return answer.body
  }
}

function versionQuery(version: number | undefined): Query {
  return version === undefined ? {} : { version }
}

interface ApiCall {
  query?: Query
  body?: unknown
  headers?: Record<string, string>
  options?: CallOptions | undefined
}

function callInit(options: CallOptions): { signal?: AbortSignal; timeoutMs?: number } {
  return {
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  }
}

function idempotencyHeader(key: string | undefined): Record<string, string> {
  return key === undefined ? {} : { 'idempotency-key': key }
}

function startCall(body: object, options: StartOptions): ApiCall {
  return {
    body,
    headers: idempotencyHeader(options.idempotencyKey),
    ...(options.wait === true ? { query: { wait: true } } : {}),
    options,
  }
}

/**
 * `harmonia/client`: the typed SDK over Harmonia's HTTP API and its live streams. Browser-safe: it needs
 * only fetch (and, for the WebSocket transport, the global WebSocket).
 */
export {
  HarmoniaClient,
  type CallOptions,
  type CheckpointsApi,
  type ComponentsApi,
  type ExecuteWorkflowRequest,
  type ExecutionListQuery,
  type ExecutionsApi,
  type HarmoniaClientOptions,
  type ListQuery,
  type StartExecutionRequest,
  type StartOptions,
  type TemplatesApi,
  type WebhooksApi,
  type WorkflowListQuery,
  type WorkflowsApi,
} from './harmonia-client.ts'
export { ClientErrorCode, HarmoniaApiError } from './errors.ts'
export { SseParser, type ReconnectOptions, type SseEvent } from './event-stream.ts'
export type { WaitOptions, WatchEventsOptions, WatchOptions } from './execution-watch.ts'
export type { FetchFunction } from './http-transport.ts'
export * from './wire-types.ts'
export type * from './llm-api.ts'
export type * from './schedules-api.ts'
export type * from './signals-api.ts'
export type * from './subscriptions-api.ts'

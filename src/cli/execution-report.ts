/**
 * How the CLI presents executions: the JSON object of `run --json`, `resume --json` and
 * `executions show --json`, the text of `executions show`, and the table of `executions list`.
 */
import {
  TASK_ROW,
  type ExecutionRecord,
  type JsonObject,
  type JsonValue,
  type TaskState,
} from '../core/model.ts'
import type { ExecutionSummary } from '../core/store.ts'
import { prettyJson } from './cli-io.ts'
import { formatDuration, formatTable } from './text-format.ts'

export interface TaskReport {
  status: string
  attempts: number
  started_at: string | null
  completed_at: string | null
  duration_ms: number | null
  /** For a `for_each` task: how many items it had. */
  item_count?: number
  output: JsonValue
  error: JsonValue
}

export interface ExecutionReport {
  execution_id: string
  workflow_id: string
  workflow_name: string
  status: string
  output: JsonValue
  error: JsonValue
  created_at: string
  started_at: string | null
  completed_at: string | null
  duration_ms: number | null
  progress: { completed_tasks: number; total_tasks: number }
  tasks: Record<string, TaskReport>
}

/** The JSON shape of an execution with its task rows (for_each item rows are summed up in their task). */
export function executionReport(
  record: ExecutionRecord | ExecutionSummary,
  states: readonly TaskState[],
): ExecutionReport {
  const tasks: Record<string, TaskReport> = {}
  for (const state of states) {
    if (state.item_index !== TASK_ROW) continue
    tasks[state.task] = {
      status: state.status,
      attempts: state.attempts,
      started_at: state.started_at ?? null,
      completed_at: state.completed_at ?? null,
      duration_ms: durationMs(state.started_at, state.completed_at),
      ...(state.item_count === undefined ? {} : { item_count: state.item_count }),
      output: state.output ?? null,
      error: (state.error ?? null) as JsonValue,
    }
  }
  return {
    execution_id: record.execution_id,
    workflow_id: record.workflow_id,
    workflow_name: record.workflow_name,
    status: record.status,
    output: record.output ?? null,
    error: (record.error ?? null) as JsonValue,
    created_at: record.created_at,
    started_at: record.started_at ?? null,
    completed_at: record.completed_at ?? null,
    duration_ms: durationMs(record.started_at, record.completed_at),
    progress: { completed_tasks: record.completed_tasks, total_tasks: record.total_tasks },
    tasks,
  }
}

/** `executions show`: status and timings, a table of tasks, errors, then the output. */
export function formatExecutionText(record: ExecutionRecord, states: readonly TaskState[]): string {
  const report = executionReport(record, states)
  let text = ''
  text += `execution  ${report.execution_id}\n`
  text += `workflow   ${report.workflow_name} (${report.workflow_id})\n`
  text += `status     ${report.status}\n`
  text += `created    ${report.created_at}\n`
  if (report.started_at !== null) text += `started    ${report.started_at}\n`
  if (report.completed_at !== null) text += `completed  ${report.completed_at}\n`
  if (report.duration_ms !== null) text += `duration   ${formatDuration(report.duration_ms)}\n`
  const counts = new Map<string, number>()
  for (const task of Object.values(report.tasks)) counts.set(task.status, (counts.get(task.status) ?? 0) + 1)
  // A fixed order, so the line reads the same whatever order the tasks finished in.
  const byStatus = [...counts]
    .sort(([a], [b]) => statusRank(a) - statusRank(b) || a.localeCompare(b))
    .map(([status, count]) => `${count} ${status}`)
    .join(', ')
  text += `tasks      ${report.progress.total_tasks}${byStatus === '' ? '' : ` (${byStatus})`}\n`
  if (record.parent !== undefined) {
    text += `parent     ${record.parent.execution_id} (task ${record.parent.task})\n`
  }
  if (report.error !== null) text += `error      ${errorLine(report.error)}\n`
  const order = taskOrder(record, Object.keys(report.tasks))
  text += '\n'
  text += formatTable(
    ['TASK', 'STATUS', 'ATTEMPTS', 'DURATION', 'ERROR'],
    order.map((name) => {
      const task = report.tasks[name]!
      return [
        name,
        task.item_count === undefined ? task.status : `${task.status} (${task.item_count} items)`,
        String(task.attempts),
        task.duration_ms === null ? '-' : formatDuration(task.duration_ms),
        task.error === null ? '' : errorLine(task.error),
      ]
    }),
  )
  if (report.status === 'completed') text += `\noutput:\n${prettyJson(report.output)}`
  return text
}

/** `executions list` (of the data dir, or of a server's answer as records): one row an execution. */
export function formatExecutionTable(executions: readonly ExecutionSummary[]): string {
  return formatTable(
    ['EXECUTION', 'WORKFLOW', 'STATUS', 'TASKS', 'CREATED', 'DURATION'],
    executions.map((execution) => [
      execution.execution_id,
      execution.workflow_name,
      execution.status,
      `${execution.completed_tasks}/${execution.total_tasks}`,
      execution.created_at,
      execution.started_at !== undefined && execution.completed_at !== undefined
        ? formatDuration(Date.parse(execution.completed_at) - Date.parse(execution.started_at))
        : '-',
    ]),
  )
}

/** Tasks in the order the definition lists them (then any others). */
function taskOrder(record: ExecutionRecord, names: readonly string[]): string[] {
  const listed = Object.keys(record.definition?.tasks ?? {})
  const present = new Set(names)
  const ordered = listed.filter((name) => present.has(name))
  const seen = new Set(ordered)
  return [...ordered, ...names.filter((name) => !seen.has(name))]
}

export function errorLine(error: JsonValue): string {
  if (error !== null && typeof error === 'object' && !Array.isArray(error)) {
    const object = error as JsonObject
    const code = typeof object['code'] === 'string' ? `${object['code']}: ` : ''
    const message = typeof object['message'] === 'string' ? object['message'] : JSON.stringify(error)
    return `${code}${message}`
  }
  return typeof error === 'string' ? error : JSON.stringify(error)
}

function durationMs(startedAt: string | undefined, completedAt: string | undefined): number | null {
  if (startedAt === undefined || completedAt === undefined) return null
  const ms = Date.parse(completedAt) - Date.parse(startedAt)
  return Number.isFinite(ms) ? ms : null
}

const STATUS_ORDER = ['completed', 'failed', 'running', 'retrying', 'pending', 'skipped', 'cancelled']

function statusRank(status: string): number {
  const rank = STATUS_ORDER.indexOf(status)
  return rank === -1 ? STATUS_ORDER.length : rank
}

/**
 * Test support: a TaskContext for invoking actions outside the engine. Log lines and progress reports are
 * recorded; `runChildWorkflow` answers what the test says (by default it fails, so a test that reaches it
 * unexpectedly says so).
 */
import type { ChildWorkflowRequest, TaskContext } from '../../src/core/component.ts'
import type { Logger } from '../../src/core/logger.ts'
import type { JsonValue } from '../../src/core/model.ts'

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error'
  message: string
  fields: Record<string, unknown>
}

export interface TestContext extends TaskContext {
  readonly logs: LogLine[]
  readonly progressReports: Array<{ fraction: number; message?: string }>
  readonly childRequests: ChildWorkflowRequest[]
}

export function createTaskContext(
  overrides: Partial<Omit<TaskContext, 'log' | 'progress'>> = {},
): TestContext {
  const logs: LogLine[] = []
  const progressReports: Array<{ fraction: number; message?: string }> = []
  const childRequests: ChildWorkflowRequest[] = []
  const logger = (bound: Record<string, unknown>): Logger => {
    const at =
      (level: LogLine['level']) =>
      (message: string, fields: Record<string, unknown> = {}): void => {
        logs.push({ level, message, fields: { ...bound, ...fields } })
      }
    return {
      debug: at('debug'),
      info: at('info'),
      warn: at('warn'),
      error: at('error'),
      child: (fields) => logger({ ...bound, ...fields }),
    }
  }
  const executionId = overrides.executionId ?? 'exec-1'
  const task = overrides.task ?? 'step'
  return {
    executionId,
    workflowId: 'wf-1',
    task,
    attempt: 1,
    idempotencyKey: `${executionId}:${task}`,
    signal: new AbortController().signal,
    attemptStartedAtMs: Date.now(),
    runChildWorkflow: async (request: ChildWorkflowRequest): Promise<JsonValue> => {
      childRequests.push(request)
      throw new Error('this test context runs no child workflows')
    },
    ...overrides,
    progress: (fraction, message) =>
      progressReports.push(message === undefined ? { fraction } : { fraction, message }),
    log: logger({}),
    logs,
    progressReports,
    childRequests,
  }
}

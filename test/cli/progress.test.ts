import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ExecutionEvent, EventType } from '../../src/core/events.ts'
import type { TaskState } from '../../src/core/model.ts'
import { createProgressRenderer } from '../../src/cli/progress.ts'
import { formatDuration } from '../../src/cli/text-format.ts'

class FakeOutput {
  readonly writes: string[] = []
  readonly isTTY: boolean
  readonly columns: number
  readonly rows: number
  constructor(isTTY = false, columns = 100, rows = 30) {
    this.isTTY = isTTY
    this.columns = columns
    this.rows = rows
  }
  write(text: string): boolean {
    this.writes.push(text)
    return true
  }
  get text(): string {
    return this.writes.join('')
  }
}

const ESC = '\u001b'
const stripAnsi = (text: string): string => text.replace(new RegExp(`${ESC}\\[[0-9;]*[A-Za-z]`, 'g'), '')

const T0 = Date.parse('2030-01-01T12:00:00.000Z')
let seq = 0
function event(
  type: EventType,
  data: ExecutionEvent['data'],
  offsetMs = 0,
  executionId = 'exec-1',
): ExecutionEvent {
  return {
    seq: ++seq,
    type,
    timestamp: new Date(T0 + offsetMs).toISOString(),
    execution_id: executionId,
    workflow_id: 'inline:demo',
    data,
  }
}

/** The lines without their `HH:MM:SS ` prefix (local time varies by machine). */
function lines(output: FakeOutput): string[] {
  return output.text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      assert.match(line, /^\d\d:\d\d:\d\d /)
      return line.slice(9)
    })
}

describe('plain progress lines', () => {
  it('prints starts, completions with durations, retries with the error and delay, failures, skips, the end', () => {
    const output = new FakeOutput()
    const progress = createProgressRenderer({ output, mode: 'plain' })
    progress.track({ executionId: 'exec-1', workflowName: 'demo', tasks: ['fetch', 'flaky', 'later'] })
    progress.handle(event('execution_started', { total_tasks: 3 }))
    progress.handle(event('task_started', { task: 'fetch', attempt: 1 }))
    progress.handle(event('task_completed', { task: 'fetch', duration_ms: 120 }, 120))
    progress.handle(event('task_started', { task: 'flaky', attempt: 1 }, 130))
    progress.handle(
      event(
        'task_retrying',
        {
          task: 'flaky',
          attempt: 1,
          max_attempts: 3,
          error: { code: 'SERVER_ERROR', message: 'HTTP 503', retriable: true },
          delay_ms: 400,
        },
        140,
      ),
    )
    progress.handle(event('task_started', { task: 'flaky', attempt: 2 }, 540))
    progress.handle(
      event(
        'task_failed',
        {
          task: 'flaky',
          error: 'HTTP 404',
          error_details: { code: 'HTTP_404', message: 'HTTP 404', retriable: false },
          retry_count: 1,
          max_retries: 2,
        },
        600,
      ),
    )
    progress.handle(event('task_skipped', { task: 'later', reason: 'dependencies were skipped' }, 601))
    progress.handle(
      event(
        'execution_failed',
        { duration_seconds: 0.61, error: { code: 'HTTP_404', message: "task 'flaky' failed: HTTP 404" } },
        610,
      ),
    )
    progress.handle(event('task_started', { task: 'ignored' }, 0, 'exec-other'))
    progress.close()
    assert.deepEqual(lines(output), [
      'execution exec-1 started: demo (3 tasks)',
      'task fetch started',
      'task fetch completed in 120 ms',
      'task flaky started',
      'task flaky attempt 1/3 failed: SERVER_ERROR: HTTP 503; retrying in 400 ms',
      'task flaky started (attempt 2)',
      'task flaky failed after 2 attempts: HTTP_404: HTTP 404',
      'task later skipped (dependencies were skipped)',
      "execution failed in 610 ms: HTTP_404: task 'flaky' failed: HTTP 404",
    ])
  })

  it('reports a fan-out by tenths of its items, not item by item', () => {
    const output = new FakeOutput()
    const progress = createProgressRenderer({ output, mode: 'plain' })
    progress.track({ executionId: 'exec-1', workflowName: 'demo', tasks: ['fan'] })
    progress.handle(event('task_started', { task: 'fan', item_count: 100 }))
    for (let i = 1; i <= 100; i++) {
      progress.handle(
        event(
          'task_progress',
          { task: 'fan', item_index: i - 1, progress: i / 100, message: `${i}/100 items done` },
          i,
        ),
      )
    }
    progress.handle(event('task_completed', { task: 'fan', item_count: 100, duration_ms: 1500 }, 1500))
    progress.close()
    const printed = lines(output)
    assert.deepEqual(printed, [
      'task fan started over 100 items',
      ...[10, 20, 30, 40, 50, 60, 70, 80, 90].map((n) => `task fan ${n}/100 items done`),
      'task fan completed in 1.5 s',
    ])
  })

  it('prefixes lines with the execution id when it follows several executions', () => {
    const output = new FakeOutput()
    const progress = createProgressRenderer({ output, mode: 'plain' })
    progress.track({ executionId: 'exec-a', workflowName: 'a', tasks: ['x'] })
    progress.track({ executionId: 'exec-b', workflowName: 'b', tasks: ['y'] })
    progress.handle(event('task_completed', { task: 'y', duration_ms: 5 }, 5, 'exec-b'))
    progress.close()
    assert.deepEqual(lines(output), ['[exec-b] task y completed in 5 ms'])
  })
})

describe('the live task table', () => {
  const states: TaskState[] = [
    {
      execution_id: 'exec-1',
      task: 'done',
      item_index: -1,
      status: 'completed',
      attempts: 1,
      started_at: new Date(T0).toISOString(),
      completed_at: new Date(T0 + 250).toISOString(),
    },
    { execution_id: 'exec-1', task: 'fan', item_index: -1, status: 'running', attempts: 1, item_count: 4 },
    { execution_id: 'exec-1', task: 'fan', item_index: 0, status: 'completed', attempts: 1 },
    { execution_id: 'exec-1', task: 'fan', item_index: 1, status: 'running', attempts: 1 },
  ]

  it('draws once at once, then redraws at most once per interval, in place, and once more at the end', () => {
    const output = new FakeOutput(true)
    const progress = createProgressRenderer({
      output,
      mode: 'tty',
      color: false,
      refreshIntervalMs: 60_000,
      now: () => T0 + 1000,
    })
    progress.track({
      executionId: 'exec-1',
      workflowName: 'demo',
      tasks: ['done', 'fan', 'flaky', 'next'],
      states,
    })
    assert.equal(output.writes.length, 1)
    const first = output.writes[0]!
    assert.ok(!new RegExp(`${ESC}\\[\\d+F`).test(first), 'the first frame does not move up')
    assert.match(first, /demo {2}exec-1 {2}running {2}1\/4 tasks/)
    assert.match(first, /✔ done +completed +1 +250 ms/)
    assert.match(first, /▶ fan +running +1 .* 1\/4 items/)
    assert.match(first, /○ next +pending/)

    for (let i = 0; i < 50; i++)
      progress.handle(event('task_progress', { task: 'fan', item_index: 1, progress: 0.5 }))
    progress.handle(
      event('task_retrying', {
        task: 'flaky',
        attempt: 1,
        max_attempts: 3,
        error: { code: 'TIMEOUT', message: 'took too long' },
        delay_ms: 2000,
      }),
    )
    assert.equal(output.writes.length, 1, 'events within one interval do not redraw')
    progress.close()
    assert.equal(output.writes.length, 2)
    const last = output.writes[1]!
    const frameLines = first.split('\n').length - 1
    assert.ok(last.startsWith(`${ESC}[${frameLines}F`), 'the next frame moves up over the previous one')
    assert.ok(last.endsWith(`${ESC}[0J`), 'and clears what is left below')
    assert.match(last, /▶ fan +running .* 2\/4 items/)
    assert.match(last, /↻ flaky +retrying +1 .*TIMEOUT: took too long; retry in 2\.0 s/)
    for (const line of last.split('\n')) {
      assert.ok(stripAnsi(line).length <= 99, `line fits the terminal: ${line}`)
    }
    progress.close()
    assert.equal(output.writes.length, 2, 'close is idempotent')
  })

  it('shows what needs attention and a summary when the tasks do not fit the terminal', () => {
    const output = new FakeOutput(true, 80, 8)
    const progress = createProgressRenderer({ output, mode: 'tty', color: false, refreshIntervalMs: 60_000 })
    const tasks = Array.from({ length: 40 }, (_, i) => `task${String(i).padStart(2, '0')}`)
    progress.track({ executionId: 'exec-1', workflowName: 'big', tasks })
    progress.handle(
      event('task_failed', {
        task: 'task30',
        error_details: { code: 'BOOM', message: 'it broke' },
        retry_count: 0,
      }),
    )
    progress.close()
    const frame = stripAnsi(output.writes.at(-1)!)
    const shown = frame.split('\n').filter(Boolean)
    assert.ok(shown.length <= 7, `at most the terminal's height: ${shown.length}`)
    assert.match(frame, /✖ task30 +failed/)
    assert.match(frame, /… 35 more: 35 pending/)
  })

  it('uses colors only when asked', () => {
    const colored = new FakeOutput(true)
    const progress = createProgressRenderer({ output: colored, mode: 'tty', refreshIntervalMs: 60_000 })
    progress.track({ executionId: 'exec-1', workflowName: 'demo', tasks: ['a'] })
    progress.close()
    assert.ok(colored.text.includes(`${ESC}[2m○${ESC}[0m`), 'the pending symbol is dim')
  })
})

describe('durations', () => {
  it('reads well from milliseconds to hours', () => {
    assert.equal(formatDuration(0), '0 ms')
    assert.equal(formatDuration(999), '999 ms')
    assert.equal(formatDuration(1234), '1.2 s')
    assert.equal(formatDuration(125_000), '2m 05s')
    assert.equal(formatDuration(3_720_000), '1h 02m')
    assert.equal(formatDuration(-1), '-')
  })
})

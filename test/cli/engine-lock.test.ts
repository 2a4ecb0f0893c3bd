/**
 * One process at a time runs the executions of an embedded SQLite data dir: a second `harmonia serve` on
 * the same dir is refused (and takes nothing over); once the first stops, the lock is free again.
 */
import assert from 'node:assert/strict'
import { after, test } from 'node:test'
import { makeTempDir, removeDir, runCli, startCli } from './cli-harness.ts'

let dir: string | undefined
after(async () => {
  if (dir !== undefined) await removeDir(dir)
})

test('a second serve on the same data dir is refused while the first runs; free again after it stops', async () => {
  dir = await makeTempDir()
  const first = startCli(['serve', '--port', '0', '--log-level', 'warn'], { cwd: dir })
  try {
    const line = await first.waitForLine(/^Harmonia listening on /, { timeoutMs: 30_000 })
    const url = line.slice('Harmonia listening on '.length)
    const started = await fetch(`${url}/api/v1/executions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        workflow: {
          name: 'held',
          tasks: { wait: { component: 'core', action: 'delay', input: { ms: 60_000 } } },
        },
      }),
    })
    const { execution_id: id } = (await started.json()) as { execution_id: string }

    const second = await runCli(['serve', '--port', '0', '--log-level', 'warn'], {
      cwd: dir,
      timeoutMs: 30_000,
    })
    assert.equal(second.code, 1, second.stderr)
    assert.match(
      second.stderr,
      /another Harmonia process \(pid \d+\) runs the executions of '.*harmonia\.db'/,
    )
    const resume = await runCli(['resume'], { cwd: dir, timeoutMs: 30_000 })
    assert.notEqual(resume.code, 0, 'resume is refused too: the server recovers its own executions')
    assert.match(resume.stderr, /another Harmonia process/)

    // The first server still runs its execution: pause and resume answer from it.
    const paused = await fetch(`${url}/api/v1/executions/${id}/pause`, { method: 'POST' })
    assert.equal(paused.status, 200, await paused.text())
  } finally {
    first.child.kill('SIGTERM')
    await first.done
  }
  const again = startCli(['serve', '--port', '0', '--log-level', 'warn'], { cwd: dir })
  try {
    await again.waitForLine(/^Harmonia listening on /, { timeoutMs: 30_000 })
  } finally {
    again.child.kill('SIGTERM')
    await again.done
  }
})

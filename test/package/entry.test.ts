/** The package entry points: `harmonia` embeds the engine, `harmonia/client` is the SDK. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { createHarmonia, resolveConfig } from 'harmonia'
import { HarmoniaClient } from 'harmonia/client'

test('the package entry runs a workflow on an embedded memory store', async () => {
  const harmonia = await createHarmonia(resolveConfig({ flags: { storage: { kind: 'memory' } } }))
  await harmonia.start()
  try {
    const started = await harmonia.engine.startExecution({
      workflow: {
        name: 'entry',
        tasks: {
          hi: { name: 'hi', component: 'core', action: 'echo', input: { n: '${workflow.input.n * 2}' } },
        },
        output: { n: '${tasks.hi.output.n}' },
      },
      input: { n: 21 },
    })
    const done = await harmonia.engine.waitForExecution(started.execution_id)
    assert.equal(done.status, 'completed')
    assert.deepEqual(done.output, { n: 42 })
  } finally {
    await harmonia.close()
  }
})

test('the client entry exports the SDK class', () => {
  assert.equal(typeof HarmoniaClient, 'function')
})

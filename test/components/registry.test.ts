import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import type { ActionHandler } from '../../src/core/component.ts'
import { ConflictError, NotFoundError, TaskFailure, ValidationError } from '../../src/core/errors.ts'
import type { JsonObject } from '../../src/core/model.ts'
import {
  createComponentRegistry,
  invokeAction,
  registerBuiltins,
  type ComponentChange,
} from '../../src/components/index.ts'
import { createTaskContext } from './context.ts'

function action(
  name: string,
  inputSchema?: JsonObject,
  run: ActionHandler['invoke'] = async (i) => i,
): ActionHandler {
  return {
    descriptor: {
      name,
      description: `${name} action`,
      ...(inputSchema === undefined ? {} : { input_schema: inputSchema }),
    },
    invoke: run,
  }
}

const greetSchema: JsonObject = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    count: { type: 'integer', minimum: 1 },
    api_token: { type: 'string' },
    mode: { enum: ['fast', 'slow'] },
  },
  required: ['name'],
  additionalProperties: false,
}

describe('component registry', () => {
  test('lists, describes and resolves registered components and actions', () => {
    const registry = createComponentRegistry()
    registry.register({ name: 'beta', description: 'b', kind: 'builtin' }, [action('x')])
    registry.register({ name: 'alpha', kind: 'remote', base_url: 'http://127.0.0.1:9' }, [
      action('one', greetSchema),
      action('two'),
    ])
    assert.deepEqual(
      registry.list().map((c) => c.name),
      ['alpha', 'beta'],
    )
    assert.deepEqual(registry.describe('alpha'), {
      name: 'alpha',
      kind: 'remote',
      base_url: 'http://127.0.0.1:9',
      actions: [
        { name: 'one', description: 'one action', input_schema: greetSchema },
        { name: 'two', description: 'two action' },
      ],
      health: { status: 'unknown' },
    })
    assert.deepEqual(registry.describe('beta')?.health, { status: 'healthy' })
    assert.equal(registry.describe('gamma'), undefined)
    assert.deepEqual(registry.describeAction('alpha', 'one')?.input_schema, greetSchema)
    assert.equal(registry.describeAction('alpha', 'three'), undefined)
    assert.deepEqual(registry.actionsOf('alpha'), ['one', 'two'])
    assert.equal(registry.actionsOf('gamma'), undefined)
    assert.equal(registry.resolve('alpha', 'two')?.descriptor.name, 'two')
    assert.equal(registry.resolve('alpha', 'three'), undefined)
  })

  test('descriptors handed out cannot change what was registered', () => {
    const registry = createComponentRegistry()
    const schema = structuredClone(greetSchema)
    registry.register({ name: 'c', kind: 'builtin' }, [action('a', schema)])
    ;(schema.properties as JsonObject).injected = { type: 'string' }
    assert.equal(
      Object.hasOwn(registry.describeAction('c', 'a')!.input_schema!.properties as object, 'injected'),
      false,
    )
    const described = registry.describeAction('c', 'a')!
    assert.throws(() => {
      ;(described.input_schema as JsonObject).type = 'array'
    }, TypeError)
  })

  test('unknown components and actions are NotFoundError component_error naming what exists', async () => {
    const registry = createComponentRegistry()
    registerBuiltins(registry, { shell: { enabled: false } })
    const context = createTaskContext()
    await assert.rejects(
      invokeAction(registry, 'ergon', 'execute_command', {}, context),
      (error: unknown) => {
        assert.ok(error instanceof NotFoundError)
        assert.equal(error.code, 'component_error')
        assert.equal(
          error.message,
          "component 'ergon' is not registered; registered components: core, http, mcp, workflow",
        )
        return true
      },
    )
    await assert.rejects(invokeAction(registry, 'core', 'ech', {}, context), (error: unknown) => {
      assert.ok(error instanceof NotFoundError)
      assert.equal(error.code, 'component_error')
      assert.equal(
        error.message,
        "component 'core' has no action 'ech'; its actions: delay, echo, fail, log, transform",
      )
      return true
    })
  })

  test('a disabled shell is unknown, and errors say how to enable shell.exec', async () => {
    const registry = createComponentRegistry()
    registerBuiltins(registry, { shell: { enabled: false } })
    assert.equal(registry.actionsOf('shell'), undefined)
    assert.match(registry.unavailableReason('shell') ?? '', /shell\.exec is disabled; enable it in config/)
    await assert.rejects(
      invokeAction(registry, 'shell', 'exec', { command: 'true' }, createTaskContext()),
      (error: unknown) => {
        assert.ok(error instanceof NotFoundError)
        assert.equal(error.code, 'component_error')
        assert.match(
          error.message,
          /^component 'shell' is not registered \(shell\.exec is disabled; enable it in config with components\.shell\.enabled: true/,
        )
        return true
      },
    )
    const enabled = createComponentRegistry()
    registerBuiltins(enabled, { shell: { enabled: true } })
    assert.deepEqual(enabled.actionsOf('shell'), ['exec'])
    assert.equal(enabled.unavailableReason('shell'), undefined)
  })

  test('every built-in action describes itself with input and output schemas', () => {
    const registry = createComponentRegistry()
    registerBuiltins(registry, { shell: { enabled: true } })
    const names = registry.list().flatMap((c) => c.actions.map((a) => `${c.name}.${a.name}`))
    assert.deepEqual(names, [
      'core.echo',
      'core.transform',
      'core.delay',
      'core.fail',
      'core.log',
      'http.request',
      'mcp.call_tool',
      'shell.exec',
      'workflow.run',
    ])
    for (const component of registry.list()) {
      assert.ok(component.description, component.name)
      for (const a of component.actions) {
        assert.ok(a.description, `${component.name}.${a.name} has a description`)
        assert.equal(typeof a.input_schema, 'object', `${component.name}.${a.name} has an input schema`)
        assert.equal(typeof a.output_schema, 'object', `${component.name}.${a.name} has an output schema`)
      }
    }
  })

  test('a taken name is a ConflictError unless replaced; replacing announces an update', () => {
    const registry = createComponentRegistry()
    const changes: ComponentChange[] = []
    registry.onChange((change) => changes.push(change))
    registry.register({ name: 'c', kind: 'remote' }, [action('a')])
    assert.throws(
      () => registry.register({ name: 'c', kind: 'remote' }, [action('b')]),
      (error: unknown) => {
        assert.ok(error instanceof ConflictError)
        assert.equal(error.code, 'conflict')
        assert.match(error.message, /component 'c' is already registered/)
        return true
      },
    )
    registry.register({ name: 'c', kind: 'remote' }, [action('b')], { replace: true })
    assert.deepEqual(registry.actionsOf('c'), ['b'])
    assert.deepEqual(
      changes.map((c) => [c.type, c.component, c.descriptor?.actions.map((a) => a.name)]),
      [
        ['component_registered', 'c', ['a']],
        ['component_updated', 'c', ['b']],
      ],
    )
  })

  test('actions come and go at run time, and every change reaches the listeners', () => {
    const registry = createComponentRegistry({
      clock: { now: () => Date.UTC(2030, 0, 1), setTimeout: () => ({ cancel() {} }) },
    })
    const changes: ComponentChange[] = []
    const stop = registry.onChange((change) => changes.push(change))
    registry.register({ name: 'remote1', kind: 'remote' }, [])
    registry.registerAction('remote1', action('scan'))
    assert.deepEqual(registry.actionsOf('remote1'), ['scan'])
    assert.throws(() => registry.registerAction('remote1', action('scan')), ConflictError)
    registry.registerAction('remote1', action('scan'), { replace: true })
    assert.equal(registry.unregisterAction('remote1', 'scan'), true)
    assert.equal(registry.unregisterAction('remote1', 'scan'), false)
    assert.equal(registry.resolve('remote1', 'scan'), undefined)
    registry.setHealth('remote1', { status: 'unhealthy', circuit: 'open', detail: 'no heartbeat' })
    registry.setHealth('remote1', { status: 'unhealthy', circuit: 'open', detail: 'no heartbeat' })
    assert.deepEqual(registry.describe('remote1')?.health, {
      status: 'unhealthy',
      circuit: 'open',
      detail: 'no heartbeat',
    })
    assert.equal(registry.unregister('remote1'), true)
    assert.equal(registry.unregister('remote1'), false)
    assert.throws(
      () => registry.registerAction('remote1', action('scan')),
      (error: unknown) => {
        assert.ok(error instanceof NotFoundError)
        assert.equal(error.code, 'component_error')
        assert.match(error.message, /component 'remote1' is not registered; registered components: none/)
        return true
      },
    )
    assert.deepEqual(
      changes.map((c) => c.type),
      [
        'component_registered',
        'component_updated',
        'component_updated',
        'component_updated',
        'component_updated',
        'component_unregistered',
      ],
    )
    assert.equal(changes[0]!.timestamp, '2030-01-01T00:00:00.000Z')
    assert.equal(changes.at(-1)!.descriptor, undefined)
    stop()
    registry.register({ name: 'later', kind: 'remote' }, [])
    assert.equal(changes.length, 6, 'a stopped listener hears nothing more')
  })

  test('a throwing listener does not stop the others nor the change', () => {
    const warnings: string[] = []
    const logger = {
      debug() {},
      info() {},
      warn: (message: string) => warnings.push(message),
      error() {},
      child() {
        return logger
      },
    }
    const registry = createComponentRegistry({ logger })
    const heard: string[] = []
    registry.onChange(() => {
      throw new Error('listener broke')
    })
    registry.onChange((change) => heard.push(change.component))
    registry.register({ name: 'c', kind: 'builtin' }, [])
    assert.deepEqual(heard, ['c'])
    assert.deepEqual(warnings, ['component change listener failed'])
    assert.ok(registry.describe('c'))
  })

  test('bad names and unusable schemas are refused with every problem named', () => {
    const registry = createComponentRegistry()
    assert.throws(
      () =>
        registry.register({ name: 'bad name', kind: 'builtin' }, [
          action('ok'),
          action('ok'),
          action('9lives'),
          action('evil', { type: 'string', pattern: '(a+)+$' }),
          action('broken', { type: 'no-such-type' }),
        ]),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError)
        assert.equal(error.code, 'validation_error')
        const messages = error.issues.map((i) => `${i.field}: ${i.message}`)
        assert.equal(messages.length, 5, messages.join('\n'))
        assert.match(messages[0]!, /^name: component name "bad name" must start with a letter/)
        assert.match(messages[1]!, /^actions\.ok: action 'ok' is given twice/)
        assert.match(messages[2]!, /^actions: action name "9lives" must start with a letter/)
        assert.match(
          messages[3]!,
          /^actions\.evil\.input_schema: is not a usable JSON Schema: input_schema\.pattern: regular expression repeats a group/,
        )
        assert.match(messages[4]!, /^actions\.broken\.input_schema: is not a usable JSON Schema: /)
        return true
      },
    )
    assert.deepEqual(registry.list(), [])
  })

  test('a schema with an $id can be registered again after its component comes back', () => {
    const registry = createComponentRegistry()
    const schema = { $id: 'urn:test:scan-input', type: 'object' }
    registry.register({ name: 'r', kind: 'remote' }, [action('scan', schema)])
    registry.unregister('r')
    registry.register({ name: 'r', kind: 'remote' }, [action('scan', schema)])
    registry.register({ name: 'r', kind: 'remote' }, [action('scan', schema)], { replace: true })
    assert.deepEqual(registry.actionsOf('r'), ['scan'])
  })
})

describe('input validation', () => {
  const registry = createComponentRegistry()
  const calls: unknown[] = []
  registry.register({ name: 'greeter', kind: 'builtin' }, [
    action('greet', greetSchema, async (input) => {
      calls.push(input)
      return { hello: (input as { name: string }).name }
    }),
    action('silent', undefined, async () => undefined as unknown as null),
    action('draft7', {
      $schema: 'http://json-schema.org/draft-07/schema#',
      type: 'object',
      properties: { when: { type: 'string', format: 'date-time' } },
    }),
  ])

  test('valid input reaches the action', async () => {
    assert.deepEqual(await invokeAction(registry, 'greeter', 'greet', { name: 'Ada' }, createTaskContext()), {
      hello: 'Ada',
    })
  })

  test('invalid input is INVALID_INPUT, not retriable, naming every field but no value', async () => {
    const before = calls.length
    const input = { count: 0, api_token: 12345, mode: 'turbo', extra: true }
    await assert.rejects(
      invokeAction(registry, 'greeter', 'greet', input, createTaskContext({ task: 'hello' })),
      (error: unknown) => {
        assert.ok(error instanceof TaskFailure)
        assert.equal(error.code, 'INVALID_INPUT')
        assert.equal(error.retriable, false)
        assert.equal(
          error.message,
          'task \'hello\': input of greeter.greet is invalid: input.name: is required; input.extra: is not a known field of this action; input.count: must be >= 1; input.api_token: expected string; input.mode: expected one of "fast", "slow" (not retriable)',
        )
        assert.doesNotMatch(error.message, /12345|turbo/)
        assert.deepEqual((error.details as { errors: unknown[] }).errors[0], {
          field: 'input.name',
          message: 'is required',
        })
        return true
      },
    )
    assert.equal(calls.length, before, 'the action did not run')
  })

  test('the handler the engine resolves validates too', async () => {
    const handler = registry.resolve('greeter', 'greet')!
    await assert.rejects(handler.invoke('just a string', createTaskContext()), (error: unknown) => {
      assert.ok(error instanceof TaskFailure)
      assert.equal(error.code, 'INVALID_INPUT')
      assert.match(
        error.message,
        /input of greeter\.greet is invalid: input: expected object \(not retriable\)$/,
      )
      return true
    })
  })

  test('draft-07 schemas and formats are understood', async () => {
    assert.deepEqual(
      await invokeAction(
        registry,
        'greeter',
        'draft7',
        { when: '2030-01-01T00:00:00Z' },
        createTaskContext(),
      ),
      { when: '2030-01-01T00:00:00Z' },
    )
    await assert.rejects(
      invokeAction(registry, 'greeter', 'draft7', { when: 'tomorrow' }, createTaskContext()),
      {
        code: 'INVALID_INPUT',
        message:
          "task 'step': input of greeter.draft7 is invalid: input.when: expected format 'date-time' (not retriable)",
      },
    )
  })

  test('an action that answers nothing answers null', async () => {
    assert.equal(await invokeAction(registry, 'greeter', 'silent', {}, createTaskContext()), null)
  })
})

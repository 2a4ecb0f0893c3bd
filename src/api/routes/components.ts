/**
 * Component routes: list and describe components (built-in and remote, with their health and, for remote
 * ones, their circuit and limits) and their actions; register, refresh and unregister remote components;
 * run one action directly (outside any workflow) with a fresh task context: its own idempotency key (or
 * the caller's `Idempotency-Key`), a timeout, and cancellation when the client goes away.
 */
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { ComponentDescriptor, TaskContext } from '../../core/component.ts'
import { ComponentError, HarmoniaError, NotFoundError, TaskFailure } from '../../core/errors.ts'
import type { JsonValue } from '../../core/model.ts'
import { invokeAction } from '../../components/registry.ts'
import { routeSchema, type ApiContext } from '../context.ts'
import { pinoAsLogger } from '../logging.ts'
import {
  ActionList,
  ActionParams,
  ActionRunAnswer,
  ComponentList,
  ComponentParams,
  RunActionBody,
  SuccessAnswer,
  errorResponses,
} from '../schemas.ts'
import { StartHeaders } from './executions.ts'

/** Seconds a direct action call may take when the body names no timeout. */
const DEFAULT_ACTION_TIMEOUT_SECONDS = 300

export async function componentRoutes(app: FastifyInstance, context: ApiContext): Promise<void> {
  const { components, engine, remote } = context.harmonia
  const tag = 'components'
  /** A remote component's descriptor carries its source, limits and circuit figures too. */
  const withStatus = (descriptor: ComponentDescriptor): ComponentDescriptor & { remote?: unknown } => {
    const status = descriptor.kind === 'remote' ? remote.status(descriptor.name) : undefined
    return status === undefined ? descriptor : { ...descriptor, remote: status }
  }

  const mustDescribe = (name: string) => {
    const descriptor = components.describe(name)
    if (descriptor === undefined) {
      const known = components
        .list()
        .map((c) => c.name)
        .join(', ')
      throw new NotFoundError(
        'not_found',
        `Component '${name}' is not registered; known components: ${known}`,
        {
          component: name,
        },
      )
    }
    return descriptor
  }
  const mustDescribeAction = (name: string, action: string) => {
    const component = mustDescribe(name)
    const descriptor = components.describeAction(name, action)
    if (descriptor === undefined) {
      throw new NotFoundError(
        'not_found',
        `Component '${name}' has no action '${action}'; its actions: ${component.actions.map((a) => a.name).join(', ')}`,
        { component: name, action },
      )
    }
    return descriptor
  }

  app.get(
    '/components',
    {
      schema: routeSchema(context, tag, 'Registered components (built-in and remote) with their actions', {
        response: { 200: ComponentList, ...errorResponses(401, 403) },
      }),
    },
    async () => {
      const items = components.list().map(withStatus)
      const hermes = remote.hermes?.state()
      return { items, total: items.length, ...(hermes === undefined ? {} : { hermes }) }
    },
  )

  app.get(
    '/components/:name',
    {
      schema: routeSchema(context, tag, 'One component', {
        params: ComponentParams,
        response: { 200: { $ref: 'Component#' }, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => withStatus(mustDescribe((request.params as { name: string }).name)),
  )

  app.post(
    '/components',
    {
      schema: routeSchema(
        context,
        tag,
        'Register a remote component ({name, base_url, actions?}); its capabilities are read from it. Registering a name again replaces it.',
        {
          body: RegisterComponentBody,
          response: {
            200: { $ref: 'Component#' },
            201: { $ref: 'Component#' },
            ...errorResponses(400, 401, 403, 409, 422),
          },
        },
      ),
    },
    async (request, reply) => {
      const { descriptor, created } = await remote.register(request.body)
      return reply.code(created ? 201 : 200).send(withStatus(descriptor))
    },
  )

  app.delete(
    '/components/:name',
    {
      schema: routeSchema(context, tag, 'Unregister a remote component', {
        params: ComponentParams,
        response: { 200: SuccessAnswer, ...errorResponses(401, 403, 404, 409) },
      }),
    },
    async (request) => {
      const { name } = request.params as { name: string }
      if (!(await remote.unregister(name))) mustDescribe(name)
      return { success: true, message: `Component '${name}' unregistered` }
    },
  )

  app.post(
    '/components/:name/refresh',
    {
      schema: routeSchema(context, tag, "Read a remote component's capabilities and action schemas again", {
        params: ComponentParams,
        response: { 200: { $ref: 'Component#' }, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { name } = request.params as { name: string }
      mustDescribe(name)
      return withStatus(await remote.refresh(name))
    },
  )

  app.get(
    '/components/:name/actions',
    {
      schema: routeSchema(context, tag, "A component's actions", {
        params: ComponentParams,
        response: { 200: ActionList, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { name } = request.params as { name: string }
      const component = mustDescribe(name)
      return { component: name, items: component.actions, total: component.actions.length }
    },
  )

  app.get(
    '/components/:name/actions/:action',
    {
      schema: routeSchema(context, tag, 'One action with its input and output schemas', {
        params: ActionParams,
        response: { 200: { $ref: 'Action#' }, ...errorResponses(401, 403, 404) },
      }),
    },
    async (request) => {
      const { name, action } = request.params as { name: string; action: string }
      return mustDescribeAction(name, action)
    },
  )

  app.post(
    '/components/:name/actions/:action',
    {
      schema: routeSchema(context, tag, 'Run one action directly with {input} (or {params})', {
        params: ActionParams,
        headers: StartHeaders,
        body: RunActionBody,
        response: { 200: ActionRunAnswer, ...errorResponses(400, 401, 403, 404, 413, 422, 500) },
      }),
    },
    async (request) => {
      const { name, action } = request.params as { name: string; action: string }
      // A remote component may offer actions it did not list: the call goes to it, and it says.
      if (mustDescribe(name).kind !== 'remote') mustDescribeAction(name, action)
      const body = request.body as { input?: JsonValue; params?: JsonValue; timeout?: number }
      const input = body.input ?? body.params ?? {}
      const timeoutMs = (body.timeout ?? DEFAULT_ACTION_TIMEOUT_SECONDS) * 1000
      const controller = new AbortController()
      const onClientGone = (): void => controller.abort(new TaskFailure('CANCELLED', 'the client went away'))
      request.raw.once('close', onClientGone)
      const timer = setTimeout(
        () =>
          controller.abort(
            new TaskFailure('TIMEOUT', `action ${name}.${action} took longer than ${timeoutMs / 1000} s`, {
              retriable: true,
            }),
          ),
        timeoutMs,
      )
      const header = request.headers['idempotency-key']
      const callId = randomUUID()
      const startedAtMs = Date.now()
      const taskContext: TaskContext = {
        executionId: `direct-${callId}`,
        workflowId: 'direct',
        task: `${name}.${action}`,
        attempt: 1,
        idempotencyKey: typeof header === 'string' && header !== '' ? `direct:${header}` : `direct:${callId}`,
        signal: controller.signal,
        attemptStartedAtMs: startedAtMs,
        progress: () => {},
        log: pinoAsLogger(request.log).child({ component: name, action }),
        runChildWorkflow: async (childRequest) => {
          const child = await engine.startExecution({
            ...(childRequest.workflow_id === undefined ? {} : { workflow_id: childRequest.workflow_id }),
            ...(childRequest.workflow === undefined ? {} : { workflow: childRequest.workflow }),
            ...(childRequest.revision === undefined ? {} : { revision: childRequest.revision }),
            input: childRequest.input ?? {},
          })
          const done = await engine.waitForExecution(child.execution_id, { timeoutMs })
          if (done.status === 'completed') return done.output ?? null
          throw new TaskFailure(
            'CHILD_WORKFLOW_FAILED',
            `child execution '${child.execution_id}' ${done.status}`,
            {
              details: { child_execution_id: child.execution_id },
            },
          )
        },
      }
      try {
        const output = await invokeAction(components, name, action, input, taskContext)
        return { success: true, component: name, action, output, duration_ms: Date.now() - startedAtMs }
      } catch (error) {
        throw asComponentError(error, name, action)
      } finally {
        clearTimeout(timer)
        request.raw.off('close', onClientGone)
      }
    },
  )
}

/**
 * A failed direct call answers 500 `component_error` with the task's own code in the details; an input that
 * does not match the action's schema is the caller's problem (422 `validation_error`, every field listed).
 */
function asComponentError(error: unknown, component: string, action: string): HarmoniaError {
  if (error instanceof TaskFailure && error.code === 'INVALID_INPUT') {
    const details = (error.details ?? {}) as { errors?: JsonValue; field?: JsonValue }
    const errors =
      details.errors ??
      (typeof details.field === 'string' ? [{ field: details.field, message: error.message }] : [])
    return new HarmoniaError('validation_error', error.message, {
      details: { component, action, errors },
    })
  }
  if (error instanceof TaskFailure) {
    return new ComponentError(`${component}.${action} failed: ${error.message}`, {
      details: {
        component,
        action,
        task_error_code: error.code,
        retriable: error.retriable,
        ...(error.details === undefined ? {} : { task_error_details: error.details }),
      },
    })
  }
  if (error instanceof HarmoniaError) return error
  return new ComponentError(
    `${component}.${action} failed: ${error instanceof Error ? error.message : String(error)}`,
    { details: { component, action } },
  )
}

const jsonSchemaObject = { type: 'object', description: 'A JSON Schema' } as const

const RemoteAction = {
  type: 'object',
  additionalProperties: false,
  required: ['name'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 128 },
    description: { type: 'string' },
    input_schema: jsonSchemaObject,
    output_schema: jsonSchemaObject,
  },
} as const

/** `POST /components`: a remote component (docs/components.md). */
const RegisterComponentBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'base_url'],
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 64, description: 'The name tasks use as `component`' },
    base_url: { type: 'string', minLength: 1, description: 'Where the component listens: http://host:port' },
    description: { type: 'string' },
    actions: {
      description:
        'Actions with their schemas, as a list or an object by name; what the component says of itself fills in the rest',
      anyOf: [
        { type: 'array', items: { anyOf: [{ type: 'string', minLength: 1 }, RemoteAction] } },
        {
          type: 'object',
          additionalProperties: {
            type: 'object',
            additionalProperties: false,
            properties: RemoteAction.properties,
          },
        },
      ],
    },
    timeout_ms: { type: 'integer', minimum: 1, maximum: 3_600_000, description: 'Per call (default 60000)' },
    max_concurrency: {
      type: 'integer',
      minimum: 1,
      maximum: 10_000,
      description: 'Calls in flight (default 16)',
    },
    failure_threshold: {
      type: 'integer',
      minimum: 1,
      maximum: 1000,
      description: 'Consecutive failures that open the circuit (default 3)',
    },
    cool_down_ms: {
      type: 'integer',
      minimum: 1,
      maximum: 3_600_000,
      description: 'How long an open circuit refuses calls before probing (default 3000)',
    },
  },
} as const

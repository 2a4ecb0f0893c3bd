/**
 * Harmonia as an MCP server: the tools of Tekton's Harmonia (workflow definitions, executions, templates,
 * components) and resources for workflow definitions and execution state, over any MCP transport (stdio in
 * `harmonia mcp`, streamable HTTP at `/mcp` in the API server). Each tool answers one JSON text block; a
 * Harmonia error answers `isError` with `{"error": {code, message, details}}`.
 */
import { randomUUID } from 'node:crypto'
import { McpServer, ResourceTemplate } from '@modelcontextprotocol/sdk/server/mcp.js'
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js'
import * as z from 'zod'
import type { TaskContext } from '../core/component.ts'
import { HarmoniaError, TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue, WorkflowDefinition, ExecutionStatus } from '../core/model.ts'
import { invokeAction } from '../components/registry.ts'
import type { Harmonia } from '../harmonia.ts'

const definition = z
  .record(z.string(), z.unknown())
  .describe(
    "A workflow definition in Tekton's shape: {name, description?, input_schema?, tasks: [{name, component, action, input, depends_on?, ...}]}",
  )
const input = z.record(z.string(), z.unknown()).describe('Input of the workflow (a JSON object)')
const page = {
  limit: z.number().int().min(1).max(500).optional().describe('Items per page (default 50)'),
  offset: z.number().int().min(0).optional().describe('Items to skip (default 0)'),
}

function ok(value: unknown): CallToolResult {
  return { content: [{ type: 'text', text: JSON.stringify(value, null, 2) }] }
}

function failed(error: unknown): CallToolResult {
  const body =
    error instanceof HarmoniaError
      ? { code: error.code, message: error.message, details: error.details ?? {} }
      : {
          code: 'internal_error',
          message: error instanceof Error ? error.message : String(error),
          details: {},
        }
  return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error: body }, null, 2) }] }
}

async function answer(work: () => Promise<unknown>): Promise<CallToolResult> {
  try {
    return ok(await work())
  } catch (error) {
    return failed(error)
  }
}

export interface McpServerOptions {
  /** Harmonia's version (shown to clients). */
  version?: string
}

/** A new MCP server over this Harmonia (one per session: an McpServer serves one transport). */
export function createHarmoniaMcpServer(harmonia: Harmonia, options: McpServerOptions = {}): McpServer {
  const server = new McpServer(
    { name: 'harmonia', version: options.version ?? '0.0.0' },
    {
      instructions:
        'Harmonia orchestrates workflows of component actions. Create a definition (CreateWorkflowDefinition), ' +
        'start it (ExecuteWorkflow), then poll GetWorkflowExecutionStatus until status is completed, failed or cancelled.',
    },
  )
  const { workflows, engine, store, templates, components } = harmonia

  server.registerTool(
    'CreateWorkflowDefinition',
    {
      description:
        'Validates and saves a workflow definition; answers the saved record with its workflow_id and revision. Invalid definitions answer every problem (task, field, expected).',
      inputSchema: {
        definition,
        workflow_id: z.string().optional().describe('Id to save it under (default: generated)'),
        draft: z.boolean().optional().describe('Save as a draft (not runnable until published)'),
      },
    },
    (args) =>
      answer(() =>
        workflows.create(args.definition, {
          ...(args.workflow_id === undefined ? {} : { workflowId: args.workflow_id }),
          ...(args.draft === undefined ? {} : { draft: args.draft }),
        }),
      ),
  )
  server.registerTool(
    'UpdateWorkflowDefinition',
    {
      description:
        'Saves a new revision of a workflow definition (executions keep the revision they started with).',
      inputSchema: { workflow_id: z.string().describe('The workflow to update'), definition },
    },
    (args) => answer(() => workflows.update(args.workflow_id, args.definition)),
  )
  server.registerTool(
    'DeleteWorkflowDefinition',
    {
      description: 'Deletes a workflow definition and its revisions.',
      inputSchema: { workflow_id: z.string() },
    },
    (args) =>
      answer(async () => {
        await workflows.delete(args.workflow_id)
        return { deleted: true, workflow_id: args.workflow_id }
      }),
  )
  server.registerTool(
    'GetWorkflowDefinition',
    {
      description: 'One workflow definition (its latest revision unless revision is given).',
      inputSchema: { workflow_id: z.string(), revision: z.number().int().min(1).optional() },
    },
    (args) => answer(() => workflows.get(args.workflow_id, args.revision)),
  )
  server.registerTool(
    'ListWorkflowDefinitions',
    {
      description: 'Lists workflow definitions, optionally filtered by a substring of name or description.',
      inputSchema: { search: z.string().optional(), ...page },
    },
    (args) => answer(() => workflows.list(args)),
  )
  server.registerTool(
    'ExecuteWorkflow',
    {
      description:
        'Starts an execution of a saved workflow (workflow_id) or of an inline definition (workflow); answers at once with execution_id and status. Poll GetWorkflowExecutionStatus for the result.',
      inputSchema: {
        workflow_id: z.string().optional().describe('A saved workflow'),
        workflow: definition.optional().describe('Or an inline definition, run without being saved'),
        revision: z.number().int().min(1).optional(),
        input: input.optional(),
        idempotency_key: z
          .string()
          .optional()
          .describe('Starting twice with the same key returns the first execution'),
      },
    },
    (args) =>
      answer(async () => {
        if ((args.workflow_id === undefined) === (args.workflow === undefined)) {
          throw new HarmoniaError(
            'validation_error',
            'ExecuteWorkflow: give exactly one of workflow_id or workflow',
          )
        }
        return engine.startExecution({
          ...(args.workflow_id === undefined ? {} : { workflow_id: args.workflow_id }),
          ...(args.workflow === undefined
            ? {}
            : { workflow: args.workflow as unknown as WorkflowDefinition }),
          ...(args.revision === undefined ? {} : { revision: args.revision }),
          ...(args.idempotency_key === undefined ? {} : { idempotency_key: args.idempotency_key }),
          input: (args.input ?? {}) as JsonObject,
        })
      }),
  )
  const executionId = { execution_id: z.string().describe('The execution') }
  server.registerTool(
    'GetWorkflowExecutionStatus',
    {
      description:
        'Status of an execution (pending, running, paused, completed, failed, cancelled), its output or error, and the state of each task.',
      inputSchema: executionId,
    },
    (args) => answer(() => executionState(harmonia, args.execution_id)),
  )
  server.registerTool(
    'ListWorkflowExecutions',
    {
      description: 'Lists executions, newest first, optionally of one workflow or with one status.',
      inputSchema: {
        workflow_id: z.string().optional(),
        status: z.enum(['pending', 'running', 'paused', 'completed', 'failed', 'cancelled']).optional(),
        ...page,
      },
    },
    (args) =>
      answer(() =>
        store.listExecutions({
          ...(args.workflow_id === undefined ? {} : { workflow_id: args.workflow_id }),
          ...(args.status === undefined ? {} : { status: args.status as ExecutionStatus }),
          ...(args.limit === undefined ? {} : { limit: args.limit }),
          ...(args.offset === undefined ? {} : { offset: args.offset }),
        }),
      ),
  )
  server.registerTool(
    'CancelWorkflowExecution',
    {
      description: 'Cancels a running or paused execution; running tasks are aborted.',
      inputSchema: { ...executionId, reason: z.string().optional() },
    },
    (args) => answer(() => engine.cancel(args.execution_id, args.reason)),
  )
  server.registerTool(
    'PauseWorkflowExecution',
    {
      description: 'Pauses an execution: running tasks finish, no new task starts.',
      inputSchema: executionId,
    },
    (args) => answer(() => engine.pause(args.execution_id)),
  )
  server.registerTool(
    'ResumeWorkflowExecution',
    { description: 'Resumes a paused execution.', inputSchema: executionId },
    (args) => answer(() => engine.resume(args.execution_id)),
  )
  server.registerTool(
    'CreateTemplate',
    {
      description:
        'Creates a workflow template: {name, description?, category?, tags?, parameters: {name: {type, required?, default?}}, workflow: definition with ${parameter} placeholders}.',
      inputSchema: { template: z.record(z.string(), z.unknown()).describe('The template body') },
    },
    (args) => answer(() => templates.create(args.template)),
  )
  server.registerTool(
    'InstantiateTemplate',
    {
      description:
        'Fills the parameters of a template and answers the resulting workflow definition (and the saved workflow).',
      inputSchema: {
        template_id: z.string(),
        parameter_values: z
          .record(z.string(), z.unknown())
          .optional()
          .describe('Values of the template parameters'),
        name: z.string().optional().describe('Name of the resulting workflow'),
        version: z.number().int().min(1).optional(),
      },
    },
    (args) =>
      answer(() =>
        templates.instantiate(args.template_id, {
          parameter_values: args.parameter_values ?? {},
          ...(args.name === undefined ? {} : { name: args.name }),
          ...(args.version === undefined ? {} : { version: args.version }),
        }),
      ),
  )
  server.registerTool(
    'ListTemplates',
    {
      description: 'Lists workflow templates (name, category, parameters).',
      inputSchema: { search: z.string().optional(), category: z.string().optional(), ...page },
    },
    (args) => answer(() => templates.list(args)),
  )
  server.registerTool(
    'ListComponents',
    { description: 'Lists components (built-in and remote) with their actions and health.', inputSchema: {} },
    () => answer(async () => ({ items: components.list() })),
  )
  server.registerTool(
    'GetComponentActions',
    {
      description: 'The actions of one component with their input and output JSON Schemas.',
      inputSchema: { component: z.string() },
    },
    (args) =>
      answer(async () => {
        const found = components.describe(args.component)
        if (found === undefined) {
          throw new HarmoniaError(
            'component_not_found',
            `component '${args.component}' is not registered; known: ${components
              .list()
              .map((c) => c.name)
              .join(', ')}`,
          )
        }
        return found
      }),
  )
  server.registerTool(
    'ExecuteComponentAction',
    {
      description: 'Runs one action of a component directly (outside a workflow) and answers its output.',
      inputSchema: {
        component: z.string(),
        action: z.string(),
        input: z.record(z.string(), z.unknown()).optional().describe('The action input'),
        timeout_seconds: z.number().positive().max(3600).optional().describe('Default 60'),
      },
    },
    (args) =>
      answer(async () => {
        const startedAtMs = Date.now()
        const timeoutMs = (args.timeout_seconds ?? 60) * 1000
        const callId = randomUUID()
        const context: TaskContext = {
          executionId: `mcp-${callId}`,
          workflowId: 'mcp',
          task: `${args.component}.${args.action}`,
          attempt: 1,
          idempotencyKey: `mcp:${callId}`,
          signal: AbortSignal.timeout(timeoutMs),
          attemptStartedAtMs: startedAtMs,
          progress: () => {},
          log: harmonia.logger.child({ component: args.component, action: args.action }),
          runChildWorkflow: async () => {
            throw new TaskFailure('UNSUPPORTED', 'child workflows cannot run from a direct action call')
          },
        }
        const output = await invokeAction(
          components,
          args.component,
          args.action,
          (args.input ?? {}) as JsonValue,
          context,
        )
        return {
          success: true,
          component: args.component,
          action: args.action,
          output,
          duration_ms: Date.now() - startedAtMs,
        }
      }),
  )

  server.registerResource(
    'workflow',
    new ResourceTemplate('harmonia://workflows/{workflow_id}', {
      list: async () => {
        const found = await workflows.list({ limit: 200 })
        return {
          resources: found.items.map((record) => ({
            uri: `harmonia://workflows/${record.workflow_id}`,
            name: record.definition.name ?? record.workflow_id,
            mimeType: 'application/json',
          })),
        }
      },
    }),
    { description: 'A workflow definition (latest revision)', mimeType: 'application/json' },
    async (uri, variables) => {
      const record = await workflows.get(String(variables.workflow_id))
      return {
        contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(record, null, 2) }],
      }
    },
  )
  server.registerResource(
    'execution',
    new ResourceTemplate('harmonia://executions/{execution_id}', {
      list: async () => {
        const found = await store.listExecutions({ limit: 50 })
        return {
          resources: found.items.map((summary) => ({
            uri: `harmonia://executions/${summary.execution_id}`,
            name: `${summary.workflow_name ?? summary.workflow_id} ${summary.execution_id} (${summary.status})`,
            mimeType: 'application/json',
          })),
        }
      },
    }),
    {
      description: 'The state of an execution: status, output or error, tasks',
      mimeType: 'application/json',
    },
    async (uri, variables) => {
      const state = await executionState(harmonia, String(variables.execution_id))
      return {
        contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(state, null, 2) }],
      }
    },
  )
  return server
}

async function executionState(harmonia: Harmonia, executionId: string): Promise<unknown> {
  const detail = await harmonia.engine.getExecution(executionId)
  const { definition: _definition, ...execution } = detail.execution as typeof detail.execution & {
    definition?: unknown
  }
  return { ...execution, tasks: detail.tasks }
}

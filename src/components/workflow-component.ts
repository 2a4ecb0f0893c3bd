/**
 * The `workflow` component: `workflow.run` runs another workflow (saved, by `workflow_id`, or given inline
 * as `workflow`) as a child execution and answers the child's output. The engine starts the child once per
 * task attempt key (idempotent across retries and restarts), cancels it when the task is aborted, and fails
 * the task with `CHILD_WORKFLOW_FAILED` or `CHILD_WORKFLOW_CANCELLED` when the child does not complete.
 */
import type { ActionHandler, ChildWorkflowRequest } from '../core/component.ts'
import { TaskFailure } from '../core/errors.ts'
import type { JsonObject, WorkflowDefinition } from '../core/model.ts'
import type { ComponentRegistration } from './registry.ts'

export const workflowComponent: ComponentRegistration = {
  name: 'workflow',
  description: 'Runs other workflows as child executions',
  kind: 'builtin',
}

const run: ActionHandler = {
  descriptor: {
    name: 'run',
    description:
      "Runs a workflow (saved by workflow_id, or inline as workflow) as a child execution with `input` and answers the child's output.",
    input_schema: {
      type: 'object',
      properties: {
        workflow_id: { type: 'string', minLength: 1, description: 'A saved workflow.' },
        workflow: {
          type: 'object',
          required: ['name', 'tasks'],
          properties: { name: { type: 'string' }, tasks: { type: 'object' } },
          description: 'An inline workflow definition (instead of workflow_id).',
        },
        revision: {
          type: 'integer',
          minimum: 1,
          description: 'Revision of the saved workflow (default: the published one).',
        },
        input: { type: 'object', description: "The child's input." },
      },
      additionalProperties: false,
    },
    output_schema: { description: "The child execution's output." },
  },
  async invoke(input, context) {
    const given = (input ?? {}) as {
      workflow_id?: string
      workflow?: WorkflowDefinition
      revision?: number
      input?: JsonObject
    }
    const invalid = (message: string): TaskFailure =>
      new TaskFailure('INVALID_INPUT', `task '${context.task}': workflow.run ${message} (not retriable)`, {
        retriable: false,
        details: { component: 'workflow', action: 'run' },
      })
    if ((given.workflow_id === undefined) === (given.workflow === undefined)) {
      throw invalid(
        `needs either 'workflow_id' or an inline 'workflow', got ${given.workflow_id === undefined ? 'neither' : 'both'}`,
      )
    }
    if (given.revision !== undefined && given.workflow_id === undefined) {
      throw invalid("takes 'revision' only with 'workflow_id'")
    }
    const request: ChildWorkflowRequest = {
      ...(given.workflow_id === undefined ? {} : { workflow_id: given.workflow_id }),
      ...(given.workflow === undefined ? {} : { workflow: given.workflow }),
      ...(given.revision === undefined ? {} : { revision: given.revision }),
      input: given.input ?? {},
    }
    return context.runChildWorkflow(request)
  },
}

export function createWorkflowActions(): ActionHandler[] {
  return [run]
}

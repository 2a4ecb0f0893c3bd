/**
 * The `mcp` component: `mcp.call_tool` calls a tool of another MCP server, reached by URL (streamable
 * HTTP) or by command (stdio, a child process started for the call; only when shell commands are enabled,
 * since it runs a program). One connection per call, closed afterwards; the task's signal aborts it.
 * Output: `{content, structured_content?, text}`; a tool answering `isError` fails the task with
 * MCP_TOOL_ERROR (not retriable), an unreachable server with component_error (retriable).
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js'
import type { ActionHandler, TaskContext } from '../core/component.ts'
import { ComponentError, TaskFailure } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import type { ComponentRegistration } from './registry.ts'

export const mcpComponent: ComponentRegistration = {
  name: 'mcp',
  description: 'Calls a tool of another MCP server (streamable HTTP by URL, or stdio by command)',
  kind: 'builtin',
}

export interface McpActionsOptions {
  /** Whether `command` (starting a local process) is allowed; follows `components.shell.enabled`. */
  allowCommands?: boolean
}

interface CallToolInput {
  url?: string
  headers?: Record<string, string>
  command?: string
  args?: string[]
  env?: Record<string, string>
  tool: string
  arguments?: JsonObject
}

export function createMcpActions(options: McpActionsOptions = {}): ActionHandler[] {
  return [callToolAction(options.allowCommands === true)]
}

function callToolAction(allowCommands: boolean): ActionHandler {
  return {
    descriptor: {
      name: 'call_tool',
      description:
        'Calls `tool` with `arguments` on an MCP server given by `url` (streamable HTTP, optional `headers`) or by `command` with `args` (stdio; needs shell commands enabled). Output: {content, structured_content, text}.',
      input_schema: {
        type: 'object',
        properties: {
          url: { type: 'string', format: 'uri', description: 'Streamable HTTP endpoint of the MCP server.' },
          headers: {
            type: 'object',
            additionalProperties: { type: 'string' },
            description: 'HTTP headers (e.g. an API key).',
          },
          command: { type: 'string', minLength: 1, description: 'Program that speaks MCP on stdio.' },
          args: { type: 'array', items: { type: 'string' } },
          env: { type: 'object', additionalProperties: { type: 'string' } },
          tool: { type: 'string', minLength: 1, description: 'The tool to call.' },
          arguments: { type: 'object', description: 'The tool arguments.' },
        },
        required: ['tool'],
        additionalProperties: false,
      },
      output_schema: {
        type: 'object',
        properties: { content: { type: 'array' }, structured_content: {}, text: { type: 'string' } },
      },
    },
    async invoke(input: JsonValue, context: TaskContext): Promise<JsonValue> {
      const call = input as unknown as CallToolInput
      const transport = openTransport(call, allowCommands, context)
      const where = call.url ?? call.command ?? ''
      const client = new Client({ name: 'harmonia', version: '1.0.0' })
      try {
        try {
          await client.connect(transport, { signal: context.signal })
        } catch (error) {
          throw new ComponentError(
            `task '${context.task}': cannot connect to the MCP server at ${where}: ${messageOf(error)}`,
            { cause: error, details: { server: where } },
          )
        }
        const result = await client.callTool(
          { name: call.tool, arguments: call.arguments ?? {} },
          undefined,
          { signal: context.signal },
        )
        const content = (result.content ?? []) as Array<{ type: string; text?: string }>
        const text = content
          .filter((part) => part.type === 'text')
          .map((part) => part.text ?? '')
          .join('\n')
        if (result.isError === true) {
          throw new TaskFailure(
            'MCP_TOOL_ERROR',
            `task '${context.task}': MCP tool '${call.tool}' at ${where} answered an error: ${text.slice(0, 500)}`,
            { retriable: false, details: { tool: call.tool, server: where } },
          )
        }
        return {
          content: content as unknown as JsonValue,
          ...(result.structuredContent === undefined
            ? {}
            : { structured_content: result.structuredContent as JsonValue }),
          text,
        }
      } catch (error) {
        if (error instanceof TaskFailure) throw error
        throw new ComponentError(
          `task '${context.task}': MCP tool '${call.tool}' at ${where} failed: ${messageOf(error)}`,
          { cause: error, details: { tool: call.tool, server: where } },
        )
      } finally {
        await client.close().catch(() => {})
      }
    },
  }
}

function openTransport(call: CallToolInput, allowCommands: boolean, context: TaskContext): Transport {
  if ((call.url === undefined) === (call.command === undefined)) {
    throw new TaskFailure(
      'INVALID_INPUT',
      `task '${context.task}': mcp.call_tool needs exactly one of 'url' (streamable HTTP) or 'command' (stdio)`,
    )
  }
  if (call.url !== undefined) {
    return new StreamableHTTPClientTransport(new URL(call.url), {
      requestInit: { headers: call.headers ?? {} },
    })
  }
  if (!allowCommands) {
    throw new TaskFailure(
      'INVALID_INPUT',
      `task '${context.task}': mcp.call_tool with 'command' starts a process; enable shell commands (components.shell.enabled or HARMONIA_SHELL_ENABLED) or give 'url'`,
    )
  }
  return new StdioClientTransport({
    command: call.command!,
    args: call.args ?? [],
    ...(call.env === undefined ? {} : { env: call.env }),
    stderr: 'ignore',
  })
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

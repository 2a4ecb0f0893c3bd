/**
 * The `llm` component: tasks that call the configured chat model.
 * - `generate` {prompt, system?, schema?, temperature?, max_tokens?, model?, max_repair_rounds?} →
 *   {text, json?, usage, model}. With `schema`, the answer must be JSON matching it: invalid JSON or a
 *   mismatch goes back to the model with the problems for a bounded number of repair rounds, then fails the
 *   task with LLM_INVALID_OUTPUT (not retriable). Prompts hold `${...}` expressions like any task input.
 * - `chat` {messages, temperature?, max_tokens?, model?} → {message, usage, model}.
 * Failures are TaskFailures: RATE_LIMITED, SERVER_ERROR, CONNECTION_ERROR, TIMEOUT are retriable;
 * HTTP_4xx, LLM_INVALID_RESPONSE and LLM_INVALID_OUTPUT are not. Without an LLM configured the component is
 * not registered, and the registry says how to configure one.
 */
import type { ActionHandler, TaskContext } from '../core/component.ts'
import { TaskFailure, ValidationError } from '../core/errors.ts'
import type { JsonObject, JsonValue } from '../core/model.ts'
import { DEFAULT_REPAIR_ROUNDS, MAX_REPAIR_ROUNDS, jsonInstruction, requestJson } from '../llm/json-output.ts'
import {
  LLM_CONFIG_HINT,
  LlmError,
  LlmFailure,
  type ChatMessage,
  type ChatRequest,
  type LlmProvider,
} from '../llm/provider.ts'
import { abortReason } from './abort-reason.ts'
import type { ComponentRegistration, ComponentRegistry } from './registry.ts'

export const llmComponent: ComponentRegistration = {
  name: 'llm',
  description:
    'Calls the configured chat model (any OpenAI-compatible endpoint): generate text or JSON, or chat',
  kind: 'builtin',
}

export const LLM_NOT_CONFIGURED_REASON = `no LLM is configured: ${LLM_CONFIG_HINT}`

/** Registers `llm` when a provider is given; otherwise records why it is absent. */
export function registerLlmComponent(registry: ComponentRegistry, provider: LlmProvider | undefined): void {
  if (provider === undefined) registry.setUnavailable(llmComponent.name, LLM_NOT_CONFIGURED_REASON)
  else registry.register(llmComponent, createLlmComponent(provider))
}

const sampling = {
  temperature: { type: 'number', minimum: 0, maximum: 2, description: 'Sampling temperature.' },
  max_tokens: { type: 'integer', minimum: 1, maximum: 1_000_000, description: 'Longest answer, in tokens.' },
  model: { type: 'string', minLength: 1, description: 'A model other than the configured one.' },
} as const

const usageSchema = {
  type: 'object',
  properties: {
    prompt_tokens: { type: 'integer' },
    completion_tokens: { type: 'integer' },
    total_tokens: { type: 'integer' },
  },
} as const

/** The component's actions over a provider. */
export function createLlmComponent(provider: LlmProvider): ActionHandler[] {
  return [generateAction(provider), chatAction(provider)]
}

function generateAction(provider: LlmProvider): ActionHandler {
  return {
    descriptor: {
      name: 'generate',
      description:
        'Answers a prompt (with an optional system prompt). With `schema` (a JSON Schema) the answer must be JSON matching it: it is validated, and an invalid answer is sent back to the model with the problems for up to `max_repair_rounds` rounds (default 2) before the task fails with LLM_INVALID_OUTPUT. Output: {text, json (with schema), usage, model}.',
      input_schema: {
        type: 'object',
        properties: {
          prompt: { type: 'string', minLength: 1, description: 'The request to the model.' },
          system: { type: 'string', description: 'The system prompt.' },
          schema: { type: 'object', description: 'JSON Schema the answer must match (structured output).' },
          max_repair_rounds: { type: 'integer', minimum: 0, maximum: MAX_REPAIR_ROUNDS },
          ...sampling,
        },
        required: ['prompt'],
        additionalProperties: false,
      },
      output_schema: {
        type: 'object',
        properties: {
          text: { type: 'string', description: "The model's answer." },
          json: { description: 'The answer parsed and validated (only with `schema`).' },
          usage: usageSchema,
          model: { type: 'string' },
          rounds: { type: 'integer', description: 'Requests made (1 plus repair rounds).' },
        },
        required: ['text', 'usage', 'model'],
      },
    },
    async invoke(input, context): Promise<JsonValue> {
      const given = input as unknown as {
        prompt: string
        system?: string
        schema?: JsonObject
        max_repair_rounds?: number
      } & SamplingInput
      const messages: ChatMessage[] = []
      if (given.system !== undefined && given.system !== '')
        messages.push({ role: 'system', content: given.system })
      if (given.schema === undefined) {
        messages.push({ role: 'user', content: given.prompt })
        const answer = await call(context, () => provider.chat({ ...chatOptions(given, context), messages }))
        return { text: answer.content, usage: { ...answer.usage }, model: answer.model }
      }
      messages.push({ role: 'user', content: `${given.prompt}\n\n${jsonInstruction(given.schema)}` })
      const schema = given.schema
      let answer
      try {
        answer = await call(context, () =>
          requestJson(provider, {
            messages,
            schema,
            maxRepairRounds: given.max_repair_rounds ?? DEFAULT_REPAIR_ROUNDS,
            chat: chatOptions(given, context),
          }),
        )
      } catch (error) {
        if (error instanceof ValidationError) {
          throw new TaskFailure(
            'INVALID_INPUT',
            `task '${context.task}': llm.generate input.schema cannot be used: ${error.issues.map((i) => i.message).join('; ')} (not retriable)`,
            { details: { component: 'llm', action: 'generate', field: 'input.schema' } },
          )
        }
        throw error
      }
      if (!answer.ok) {
        throw new TaskFailure(
          LlmFailure.invalid_output,
          `task '${context.task}': the model's answer did not match the schema after ${answer.rounds} ${answer.rounds === 1 ? 'try' : 'tries'}: ${answer.problems.join('; ')} (not retriable)`,
          {
            retriable: false,
            details: {
              rounds: answer.rounds,
              problems: answer.problems,
              usage: { ...answer.usage },
              text_excerpt: answer.text.slice(0, 500),
            },
          },
        )
      }
      return {
        text: answer.text,
        json: answer.value as JsonValue,
        usage: { ...answer.usage },
        model: answer.model,
        rounds: answer.rounds,
      }
    },
  }
}

function chatAction(provider: LlmProvider): ActionHandler {
  return {
    descriptor: {
      name: 'chat',
      description:
        "Continues a conversation: `messages` is a list of {role: system|user|assistant, content}. Output: {message: {role: 'assistant', content}, usage, model}.",
      input_schema: {
        type: 'object',
        properties: {
          messages: {
            type: 'array',
            minItems: 1,
            items: {
              type: 'object',
              properties: {
                role: { enum: ['system', 'user', 'assistant'] },
                content: { type: 'string' },
              },
              required: ['role', 'content'],
              additionalProperties: false,
            },
          },
          ...sampling,
        },
        required: ['messages'],
        additionalProperties: false,
      },
      output_schema: {
        type: 'object',
        properties: {
          message: {
            type: 'object',
            properties: { role: { const: 'assistant' }, content: { type: 'string' } },
            required: ['role', 'content'],
          },
          usage: usageSchema,
          model: { type: 'string' },
        },
        required: ['message', 'usage', 'model'],
      },
    },
    async invoke(input, context): Promise<JsonValue> {
      const given = input as unknown as { messages: ChatMessage[] } & SamplingInput
      const answer = await call(context, () =>
        provider.chat({ ...chatOptions(given, context), messages: given.messages }),
      )
      return {
        message: { role: 'assistant', content: answer.content },
        usage: { ...answer.usage },
        model: answer.model,
      }
    },
  }
}

interface SamplingInput {
  temperature?: number
  max_tokens?: number
  model?: string
}

function chatOptions(given: SamplingInput, context: TaskContext): Omit<ChatRequest, 'messages'> {
  return {
    purpose: 'component',
    signal: context.signal,
    ...(given.temperature === undefined ? {} : { temperature: given.temperature }),
    ...(given.max_tokens === undefined ? {} : { max_tokens: given.max_tokens }),
    ...(given.model === undefined ? {} : { model: given.model }),
  }
}

/** Runs an LLM call, turning its failures into the task's failure codes. */
async function call<T>(context: TaskContext, run: () => Promise<T>): Promise<T> {
  try {
    return await run()
  } catch (error) {
    if (context.signal.aborted) throw abortReason(context.signal)
    if (error instanceof LlmError) {
      throw new TaskFailure(
        error.reason,
        `task '${context.task}': ${error.message} (${error.retriable ? 'retriable' : 'not retriable'})`,
        { retriable: error.retriable, details: error.details },
      )
    }
    throw error
  }
}

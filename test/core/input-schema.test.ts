import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ValidationError } from '../../src/core/errors.ts'
import { buildInputSchema, compileInputValidator, inputValidatorFor } from '../../src/core/input-schema.ts'
import type { WorkflowDefinition } from '../../src/core/model.ts'

function definition(extra: Partial<WorkflowDefinition>): WorkflowDefinition {
  return { name: 'w', tasks: {}, ...extra }
}

function invalid(message: string, issues: unknown) {
  return (error: unknown) => {
    assert.ok(error instanceof ValidationError, `expected ValidationError, got ${String(error)}`)
    assert.equal(error.code, 'validation_error')
    assert.equal(error.message, message)
    assert.deepEqual(error.issues, issues)
    return true
  }
}

describe('buildInputSchema', () => {
  test("Tekton's property map: required without a default is required", () => {
    const { schema, issues } = buildInputSchema(
      definition({
        input: {
          data_url: { type: 'string', format: 'uri', description: 'where', required: true },
          analysis_type: { type: 'string', enum: ['basic', 'detailed'], default: 'basic', required: true },
          note: { type: 'string' },
        },
      }),
    )
    assert.deepEqual(issues, [])
    assert.deepEqual(schema, {
      type: 'object',
      properties: {
        data_url: { type: 'string', format: 'uri', description: 'where' },
        analysis_type: { type: 'string', enum: ['basic', 'detailed'], default: 'basic' },
        note: { type: 'string' },
      },
      required: ['data_url'],
    })
  })

  test('a full schema in input_schema wins; a full schema given as input is used as it is', () => {
    const full = { type: 'object', properties: { x: { type: 'integer' } } }
    assert.equal(
      buildInputSchema(definition({ input_schema: full, input: { y: { type: 'string' } } })).schema,
      full,
    )
    assert.equal(buildInputSchema(definition({ input: full as never })).schema, full)
    assert.equal(buildInputSchema(definition({})).schema, undefined)
  })

  test('malformed property maps are definition issues', () => {
    assert.deepEqual(
      buildInputSchema(
        definition({ input: { a: 'string' as never, b: { type: 'string', required: 'yes' } } }),
      ).issues,
      [
        {
          field: 'input.a',
          message:
            'expected an object describing the input (type, default, enum, format, description, required)',
        },
        { field: 'input.b.required', message: 'expected true or false, got "yes"' },
      ],
    )
  })
})

describe('input validation', () => {
  const wf = definition({
    input: {
      count: { type: 'integer', required: true },
      mode: { type: 'string', enum: ['basic', 'detailed'], default: 'basic' },
      url: { type: 'string', format: 'uri' },
      api_token: { type: 'string' },
      tags: { type: 'array', items: { type: 'string' }, maxItems: 2 },
    },
  })

  test('applies defaults to a copy and keeps types as given', () => {
    const input = { count: 2 }
    const prepared = inputValidatorFor(wf).prepare(input)
    assert.deepEqual(prepared, { count: 2, mode: 'basic' })
    assert.deepEqual(input, { count: 2 })
  })

  test('reports every problem with its field; no coercion', () => {
    assert.throws(
      () =>
        inputValidatorFor(wf).prepare({
          count: 'abc',
          mode: 'x',
          url: 'not a uri',
          tags: ['a', 1, 'c'],
          api_token: 42,
        }),
      invalid(
        'input of workflow \'w\' is invalid: input.count: expected integer, got "abc"; input.mode: expected one of "basic", "detailed", got "x"; input.url: expected format \'uri\', got "not a uri"; input.api_token: expected string, got a number; input.tags: must NOT have more than 2 items, got a list; input.tags[1]: expected string, got 1',
        [
          { field: 'input.count', message: 'expected integer, got "abc"' },
          { field: 'input.mode', message: 'expected one of "basic", "detailed", got "x"' },
          { field: 'input.url', message: 'expected format \'uri\', got "not a uri"' },
          { field: 'input.api_token', message: 'expected string, got a number' },
          { field: 'input.tags', message: 'must NOT have more than 2 items, got a list' },
          { field: 'input.tags[1]', message: 'expected string, got 1' },
        ],
      ),
    )
  })

  test('required inputs and non-object input', () => {
    assert.throws(
      () => inputValidatorFor(wf).prepare({}),
      invalid("input of workflow 'w' is invalid: input.count: is required", [
        { field: 'input.count', message: 'is required' },
      ]),
    )
    assert.throws(
      () => inputValidatorFor(wf).prepare([1]),
      invalid("input of workflow 'w' is invalid: input: expected an object, got a list", [
        { field: 'input', message: 'expected an object, got a list' },
      ]),
    )
  })

  test('without a schema any object passes as it is', () => {
    const input = { anything: [1] }
    assert.equal(inputValidatorFor(definition({})).prepare(input), input)
    assert.deepEqual(inputValidatorFor(definition({})).prepare(undefined), {})
  })

  test('draft-07 schemas are understood too; additionalProperties names the extra input', () => {
    const validator = inputValidatorFor(
      definition({
        input_schema: {
          $schema: 'http://json-schema.org/draft-07/schema#',
          type: 'object',
          properties: { a: { type: 'boolean' } },
          additionalProperties: false,
        },
      }),
    )
    assert.throws(
      () => validator.prepare({ a: true, extra: 1 }),
      invalid("input of workflow 'w' is invalid: input.extra: is not an allowed input", [
        { field: 'input.extra', message: 'is not an allowed input' },
      ]),
    )
  })

  test('an invalid schema is a definition issue; dangerous patterns too', () => {
    assert.deepEqual(compileInputValidator(definition({ input: { a: { type: 'strnig' } } })).issues, [
      {
        field: 'input',
        message:
          'invalid JSON Schema: schema is invalid: data/properties/a/type must be equal to one of the allowed values, data/properties/a/type must be array, data/properties/a/type must match a schema in anyOf',
      },
    ])
    assert.deepEqual(
      compileInputValidator(
        definition({
          input_schema: { type: 'object', properties: { a: { type: 'string', pattern: '^(a+)+$' } } },
        }),
      ).issues,
      [
        {
          field: 'input_schema.properties.a.pattern',
          message:
            'regular expression repeats a group that itself repeats (like (a+)+), which can take exponential time; rewrite it without the nested repetition',
        },
      ],
    )
    assert.throws(
      () => inputValidatorFor(definition({ input_schema: [] as never })),
      invalid("workflow 'w' is invalid: input_schema: expected a JSON Schema object", [
        { field: 'input_schema', message: 'expected a JSON Schema object' },
      ]),
    )
  })

  test('validators are cached per definition and per schema', () => {
    const first = inputValidatorFor(wf)
    assert.equal(inputValidatorFor(wf), first)
    const same = definition({ input: structuredClone(wf.input) })
    assert.notEqual(inputValidatorFor(same), first)
    assert.deepEqual(inputValidatorFor(same).prepare({ count: 1 }), { count: 1, mode: 'basic' })
  })

  test('schemas with the same $id in different workflows do not collide', () => {
    const schema = (type: string) => ({
      $id: 'https://example.com/in',
      type: 'object',
      properties: { a: { type } },
    })
    const numbers = inputValidatorFor(definition({ input_schema: schema('number') }))
    const strings = inputValidatorFor(definition({ input_schema: schema('string') }))
    assert.deepEqual(numbers.prepare({ a: 1 }), { a: 1 })
    assert.deepEqual(strings.prepare({ a: 'x' }), { a: 'x' })
  })
})

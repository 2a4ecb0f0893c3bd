import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { JsonValue, WorkflowDefinition } from '../../src/core/model.ts'
import { validateWorkflow } from '../../src/core/validate.ts'
import { celLiteral, rewriteCelParameters } from '../../src/templates/placeholder-syntax.ts'
import {
  canonicalizePlaceholders,
  instantiatePlaceholders,
  placeholderScope,
  tektonPlaceholders,
} from '../../src/templates/placeholders.ts'

/** A two-task workflow whose values are the given strings. */
function workflow(parts: {
  input?: JsonValue
  when?: string
  output?: JsonValue
  description?: string
}): WorkflowDefinition {
  return {
    name: 'w',
    ...(parts.description === undefined ? {} : { description: parts.description }),
    input: { region: { type: 'string', default: 'eu' } },
    tasks: {
      fetch: {
        name: 'fetch',
        component: 'http',
        action: 'request',
        depends_on: [],
        input: { url: 'https://x' },
      },
      use: {
        name: 'use',
        component: 'core',
        action: 'transform',
        depends_on: ['fetch'],
        ...(parts.input === undefined ? {} : { input: parts.input }),
        ...(parts.when === undefined ? {} : { when: parts.when }),
      },
    },
    ...(parts.output === undefined ? {} : { output: parts.output as Record<string, JsonValue> }),
  }
}

const PARAMETERS = ['priority', 'count', 'target', 'tags', 'empty']

function canonical(definition: WorkflowDefinition) {
  return canonicalizePlaceholders(definition, placeholderScope(definition, PARAMETERS))
}

function instantiate(definition: WorkflowDefinition, values: Record<string, JsonValue>) {
  return instantiatePlaceholders(definition, placeholderScope(definition, PARAMETERS), values)
}

describe('canonicalizePlaceholders', () => {
  it('rewrites Tekton placeholders to Harmonia syntax: parameters, task outputs, workflow inputs', () => {
    const { definition, issues, defaults } = canonical(
      workflow({
        input: {
          a: '{{ priority }}',
          b: '{{fetch.output.body.items[0]}}',
          c: 'region {{ region }} for {{ target.url }}',
          d: '${parameters.count}',
          e: '${ param.target["url"] }',
          f: '${tasks.fetch.output.status + parameters.count}',
          g: '{{ fetch.output }}',
        },
        when: '{{ fetch.output.ok }} && {{ priority }} == "high" && ${parameters.count} > 1',
        description: 'priority {{ priority }}',
      }),
    )
    assert.deepEqual(issues, [])
    assert.deepEqual(defaults, [])
    assert.deepEqual(definition.tasks.use!.input, {
      a: '${param.priority}',
      b: '${tasks.fetch.output.body.items[0]}',
      c: 'region ${workflow.input.region} for ${param.target.url}',
      d: '${param.count}',
      e: '${param.target.url}',
      f: '${tasks.fetch.output.status + param.count}',
      g: '${tasks.fetch.output}',
    })
    assert.equal(
      definition.tasks.use!.when,
      'tasks.fetch.output.ok && param.priority == "high" && param.count > 1',
    )
    assert.equal(definition.description, 'priority ${param.priority}')
  })

  it('is idempotent and leaves other expressions, escapes and literal escapes alone', () => {
    const source = workflow({
      input: {
        a: '${tasks.fetch.output.x} and $${literal}',
        b: "{{ '{{' }} not a placeholder }}",
        c: 'plain {{',
      },
    })
    const once = canonical(source)
    assert.deepEqual(once.issues, [])
    assert.deepEqual(once.definition.tasks.use!.input, source.tasks.use!.input)
    assert.deepEqual(canonical(once.definition).definition, once.definition)
  })

  it('hands back default() filters and reports unknown placeholders with task and field', () => {
    const { issues, defaults } = canonical(
      workflow({
        input: {
          a: '{{ count | default(80) }}',
          b: "{{ region | default('us') }}",
          c: '{{ nope }}',
          d: '{{ fetch }}',
          e: '{{ count | upper }}',
          f: '{{ a + b }}',
          g: '{{ fetch.output | default(1) }}',
          h: '{{ count | default(x) }}',
        },
        output: { r: '${param.missing}' },
      }),
    )
    assert.deepEqual(defaults, [
      { kind: 'parameter', name: 'count', value: 80, task: 'use', field: 'input.a' },
      { kind: 'input', name: 'region', value: 'us', task: 'use', field: 'input.b' },
    ])
    assert.deepEqual(issues, [
      {
        task: 'use',
        field: 'input.c',
        message:
          "unknown placeholder '{{ nope }}': 'nope' is not a parameter, a task or a workflow input; parameters: priority, count, target, tags, empty",
      },
      {
        task: 'use',
        field: 'input.d',
        message:
          "unknown placeholder '{{ fetch }}': 'fetch' is not a parameter, a task or a workflow input; parameters: priority, count, target, tags, empty; to read task 'fetch', name a field: {{ fetch.output }}",
      },
      {
        task: 'use',
        field: 'input.e',
        message:
          "unsupported filter 'upper' in placeholder '{{ count | upper }}'; only default(value) is supported",
      },
      {
        task: 'use',
        field: 'input.f',
        message:
          "unsupported placeholder '{{ a + b }}': expected a parameter, task output or workflow input name like {{ name }} or {{ task.output.field }}",
      },
      {
        task: 'use',
        field: 'input.g',
        message:
          "placeholder '{{ fetch.output | default(1) }}': default() applies to a whole parameter or workflow input, not to a task output",
      },
      {
        task: 'use',
        field: 'input.h',
        message:
          "placeholder '{{ count | default(x) }}': default(x) is not a literal value (a number, a quoted string, true, false, null, a JSON list or object)",
      },
      {
        field: 'output.r',
        message: "unknown parameter 'missing'; parameters: priority, count, target, tags, empty",
      },
    ])
  })

  it('reports parameters the template does not declare, in every form', () => {
    const { issues } = canonical(
      workflow({
        input: { a: '${tasks.fetch.output.n > param.limit}', b: 'x ${parameters.size}' },
        when: '${param.on} && param.off',
      }),
    )
    const declared = 'parameters: priority, count, target, tags, empty'
    assert.deepEqual(issues, [
      { task: 'use', field: 'input.a', message: `unknown parameter 'limit'; ${declared}` },
      { task: 'use', field: 'input.b', message: `unknown parameter 'size'; ${declared}` },
      { task: 'use', field: 'when', message: `unknown parameter 'on'; ${declared}` },
      { task: 'use', field: 'when', message: `unknown parameter 'off'; ${declared}` },
    ])
  })
})

describe('instantiatePlaceholders', () => {
  const values = { priority: 'high', count: 3, target: { url: 'https://t', port: 8080 }, tags: ['a', 'b'] }

  it('keeps the type of a whole placeholder and interpolates embedded ones as text', () => {
    const { definition, issues } = instantiate(
      workflow({
        input: {
          priority: '${param.priority}',
          count: '${param.count}',
          target: '${param.target}',
          port: '${param.target.port}',
          tags: '${param.tags}',
          first: '{{ tags[0] }}',
          text: 'p={{ priority }} n=${param.count} t=${param.target} tags=${param.tags}',
          missing: '${param.empty}',
          missing_text: '[${param.empty}]',
          mixed: '${param.priority}-${tasks.fetch.output.id}',
          literal: "{{ '{{' }} x }}",
        },
        description: 'for ${param.target.url}',
      }),
      values,
    )
    assert.deepEqual(issues, [])
    assert.deepEqual(definition.tasks.use!.input, {
      priority: 'high',
      count: 3,
      target: { url: 'https://t', port: 8080 },
      port: 8080,
      tags: ['a', 'b'],
      first: 'a',
      text: 'p=high n=3 t={"url":"https://t","port":8080} tags=["a","b"]',
      missing: null,
      missing_text: '[]',
      mixed: 'high-${tasks.fetch.output.id}',
      literal: '{{ x }}',
    })
    assert.equal(definition.description, 'for https://t')
  })

  it('writes parameters into conditions and expressions as CEL literals', () => {
    const { definition, issues } = instantiate(
      workflow({
        input: { ok: '${tasks.fetch.output.n > param.count && param.tags.size() > 0}' },
        when: 'tasks.fetch.output.level == param.priority && ${param.count} < 10 && "param.x" != param.target.url',
      }),
      values,
    )
    assert.deepEqual(issues, [])
    assert.deepEqual(definition.tasks.use!.input, {
      ok: '${tasks.fetch.output.n > 3 && ["a", "b"].size() > 0}',
    })
    assert.equal(
      definition.tasks.use!.when,
      'tasks.fetch.output.level == "high" && 3 < 10 && "param.x" != "https://t"',
    )
    assert.deepEqual(validateWorkflow(definition), [])
  })

  it('escapes ${ in values inserted where Harmonia evaluates expressions, never elsewhere', () => {
    const hostile = {
      priority: '${env.SECRET}',
      count: 1,
      target: { url: '${tasks.fetch.output}' },
      tags: [],
    }
    const { definition } = instantiate(
      workflow({
        input: {
          a: '${param.priority}',
          b: 'x ${param.priority}',
          c: '${param.target}',
          d: '{{ priority }}',
        },
        when: 'param.priority == ""',
        output: { o: '${param.priority}' },
        description: '${param.priority}',
      }),
      hostile,
    )
    assert.deepEqual(definition.tasks.use!.input, {
      a: '$${env.SECRET}',
      b: 'x $${env.SECRET}',
      c: { url: '$${tasks.fetch.output}' },
      d: '$${env.SECRET}',
    })
    assert.equal(definition.tasks.use!.when, '"${env.SECRET}" == ""')
    assert.deepEqual(definition.output, { o: '$${env.SECRET}' })
    assert.equal(definition.description, '${env.SECRET}')
    // The escaped values stay text: the workflow reads no environment variable.
    assert.deepEqual(validateWorkflow(definition, { envAllowList: [] }), [])
  })

  it('reports unknown parameters and missing fields with task and field', () => {
    const { issues } = instantiate(
      workflow({ input: { a: '${param.nope}', b: '${param.target.host}', c: '${param.tags[5]}' } }),
      values,
    )
    assert.deepEqual(issues, [
      {
        task: 'use',
        field: 'input.a',
        message: "unknown parameter 'nope'; parameters: priority, count, target, tags, empty",
      },
      { task: 'use', field: 'input.b', message: "parameter 'target' has no field 'host' (value: an object)" },
      { task: 'use', field: 'input.c', message: "parameter 'tags' has no item 5 (value: a list)" },
    ])
  })

  it('uses a default() filter when the parameter has no value', () => {
    const { definition } = instantiate(workflow({ input: { n: '{{ empty | default(80) }}' } }), values)
    assert.deepEqual(definition.tasks.use!.input, { n: 80 })
  })
})

describe('tektonPlaceholders', () => {
  it('writes Tekton syntax where Tekton has one, and canonicalizing gives the definition back', () => {
    const source = canonical(
      workflow({
        input: {
          a: '${param.priority}',
          b: 'x ${tasks.fetch.output.body.items[0]} y',
          c: '${workflow.input.region}',
          d: '${tasks.fetch.output.n + 1}',
          e: '${input.region}',
          f: '$${kept}',
          g: '${param.target["a b"]}',
        },
        when: 'param.count > 1',
      }),
    ).definition
    const tekton = tektonPlaceholders(source, placeholderScope(source, PARAMETERS))
    assert.deepEqual(tekton.tasks.use!.input, {
      a: '{{ priority }}',
      b: 'x {{ fetch.output.body.items[0] }} y',
      c: '{{ region }}',
      d: '${tasks.fetch.output.n + 1}',
      e: '${input.region}',
      f: '$${kept}',
      g: '{{ target["a b"] }}',
    })
    assert.equal(tekton.tasks.use!.when, 'param.count > 1')
    assert.deepEqual(canonical(tekton).definition, source)
  })
})

describe('placeholder syntax', () => {
  it('celLiteral writes JSON values as CEL', () => {
    assert.equal(celLiteral('a"b\n'), '"a\\"b\\n"')
    assert.equal(celLiteral(3), '3')
    assert.equal(celLiteral(2.5), '2.5')
    assert.equal(celLiteral(1e21), '1e+21')
    assert.equal(celLiteral(null), 'null')
    assert.equal(celLiteral({ a: [true, { b: null }] }), '{"a": [true, {"b": null}]}')
  })

  it('rewriteCelParameters skips strings, member names and method calls', () => {
    const seen: string[] = []
    const out = rewriteCelParameters(
      `param.a.b[0]["c"] + x.param.y + 'param.z' + r"param\\" + param.list.size() + parameters . k`,
      (name, path) => {
        seen.push(`${name}:${JSON.stringify(path)}`)
        return 'V'
      },
    )
    assert.equal(out, `V + x.param.y + 'param.z' + r"param\\" + V.size() + V`)
    assert.deepEqual(seen, ['a:["b",0,"c"]', 'list:[]', 'k:[]'])
  })
})

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ValidationError } from '../../src/core/errors.ts'
import {
  checkParameterSpecs,
  coerceParameterText,
  parseParameterAssignments,
  requireParameterValues,
  resolveParameterValues,
  sampleParameterValues,
} from '../../src/templates/parameters.ts'
import type { ParameterMap } from '../../src/templates/template-model.ts'

const bugFix: ParameterMap = {
  bug_report: { type: 'text', required: true, description: 'Detailed description of the bug' },
  priority: {
    type: 'select',
    required: false,
    options: ['low', 'medium', 'high', 'critical'],
    default: 'medium',
  },
  attempts: { type: 'integer', required: false, default: 3 },
  ratio: { type: 'number', required: false },
  dry_run: { type: 'boolean', required: false },
  labels: { type: 'array', required: false },
  settings: { type: 'object', required: false },
  region: { type: 'string', required: false, enum: ['eu', 'us'] },
}

describe('checkParameterSpecs', () => {
  it('returns canonical specs: type defaults to string, required to false, a differing name becomes title', () => {
    const { parameters, issues } = checkParameterSpecs({
      a: {},
      b: { type: 'select', options: [1, 2], default: 2, required: true, description: 'B', name: 'The B' },
      c: { type: 'integer', enum: [1, 5], name: 'c' },
    })
    assert.deepEqual(issues, [])
    assert.deepEqual(parameters, {
      a: { type: 'string', required: false },
      b: { type: 'select', required: true, description: 'B', title: 'The B', options: [1, 2], default: 2 },
      c: { type: 'integer', required: false, enum: [1, 5] },
    })
  })

  it('reports every problem with its field', () => {
    const { parameters, issues } = checkParameterSpecs({
      ...(JSON.parse('{"__proto__": {"type": "string"}}') as object),
      'bad-name': { type: 'string' },
      t: { type: 'float' },
      s: { type: 'select' },
      o: { type: 'string', options: ['x'] },
      d: { type: 'integer', default: 2.5 },
      e: { type: 'select', options: ['a', 'b'], default: 'c' },
      r: { required: 'yes', requried: true },
      n: 'text',
    })
    assert.deepEqual(parameters, {})
    assert.deepEqual(
      issues.map((issue) => `${issue.field}: ${issue.message}`),
      [
        "parameters.__proto__: '__proto__' is reserved and cannot name a parameter",
        "parameters.bad-name: parameter names are letters, digits and '_' (at most 100, not starting with a digit), so placeholders can read them as ${param.<name>}",
        'parameters.t.type: expected one of string, text, number, integer, boolean, object, array, select, got "float"',
        'parameters.s.options: a select parameter needs a non-empty list of options',
        'parameters.o.options: options apply to select parameters only; for a string parameter use enum',
        'parameters.d.default: expected an integer, got 2.5',
        'parameters.e.default: expected one of a, b, got "c"',
        'parameters.r.requried: unknown key; a parameter has type, required, default, options, enum, description, title',
        'parameters.r.required: expected true or false, got "yes"',
        'parameters.n: expected an object describing the parameter (type, required, default, ...), got "text"',
      ],
    )
  })

  it('rejects a parameters value that is not an object', () => {
    const { issues } = checkParameterSpecs(['a'])
    assert.deepEqual(issues, [
      {
        field: 'parameters',
        message: 'expected an object mapping parameter names to their types, got a list',
      },
    ])
  })
})

describe('resolveParameterValues', () => {
  it('applies defaults and keeps given values without coercing them', () => {
    const { values, issues } = resolveParameterValues(bugFix, {
      bug_report: 'crash on save',
      ratio: 0.5,
      dry_run: false,
      labels: ['a'],
      settings: { k: 1 },
      region: 'eu',
    })
    assert.deepEqual(issues, [])
    assert.deepEqual(values, {
      bug_report: 'crash on save',
      priority: 'medium',
      attempts: 3,
      ratio: 0.5,
      dry_run: false,
      labels: ['a'],
      settings: { k: 1 },
      region: 'eu',
    })
  })

  it('names each bad parameter: not in options, required, wrong type (no coercion from text), not declared', () => {
    const { issues } = resolveParameterValues(bugFix, {
      priority: 'urgent',
      attempts: '3',
      ratio: 'NaN',
      dry_run: 'true',
      labels: 'a',
      settings: [],
      region: 'asia',
      prio: 'high',
    })
    assert.deepEqual(
      issues.map((issue) => issue.message),
      [
        "parameter 'prio' is not declared by the template; declared: bug_report, priority, attempts, ratio, dry_run, labels, settings, region",
        "parameter 'bug_report' is required",
        'parameter \'priority\': expected one of low, medium, high, critical, got "urgent"',
        'parameter \'attempts\': expected an integer, got "3"',
        'parameter \'ratio\': expected a number, got "NaN"',
        'parameter \'dry_run\': expected true or false, got "true"',
        'parameter \'labels\': expected a list, got "a"',
        "parameter 'settings': expected an object, got a list",
        'parameter \'region\': expected one of eu, us, got "asia"',
      ],
    )
  })

  it('treats null as not given, so the default applies', () => {
    const { values, issues } = resolveParameterValues(bugFix, { bug_report: 'x', priority: null })
    assert.deepEqual(issues, [])
    assert.equal(values.priority, 'medium')
    assert.equal(Object.hasOwn(values, 'ratio'), false)
  })

  it('requireParameterValues throws ValidationError with every problem', () => {
    assert.throws(
      () => requireParameterValues(bugFix, { priority: 'urgent' }, "template 'bug-fix'"),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError)
        assert.equal(error.code, 'validation_error')
        assert.equal(
          error.message,
          "parameter values for template 'bug-fix' are invalid: parameter 'bug_report' is required; parameter 'priority': expected one of low, medium, high, critical, got \"urgent\"",
        )
        return true
      },
    )
  })

  it('rejects parameter_values that are not an object', () => {
    const { issues } = resolveParameterValues(bugFix, 'x')
    assert.deepEqual(issues, [
      { field: 'parameter_values', message: 'expected an object mapping parameter names to values, got "x"' },
    ])
  })
})

describe('parseParameterAssignments (the CLI coercion)', () => {
  it('types text by the declared parameter', () => {
    const values = parseParameterAssignments(
      [
        'attempts=3',
        'ratio=2.5',
        'dry_run=yes',
        'labels=["a","b"]',
        'settings={"k":1}',
        'priority=high',
        'bug_report=a=b',
        'unknown=7',
      ],
      bugFix,
    )
    assert.deepEqual(values, {
      attempts: 3,
      ratio: 2.5,
      dry_run: true,
      labels: ['a', 'b'],
      settings: { k: 1 },
      priority: 'high',
      bug_report: 'a=b',
      unknown: '7',
    })
  })

  it('reports every assignment it cannot read', () => {
    assert.throws(
      () =>
        parseParameterAssignments(
          ['attempts=3.5', 'noequals', 'dry_run=maybe', 'labels={', 'ratio=', 'attempts=4'],
          bugFix,
        ),
      (error: unknown) => {
        assert.ok(error instanceof ValidationError)
        assert.equal(error.code, 'validation_error')
        const messages = error.issues.map((issue) => issue.message)
        // The JSON parser's own words follow the colon.
        assert.match(messages[3]!, /^parameter 'labels': expected a list in JSON: \S/)
        messages[3] = 'labels'
        assert.deepEqual(messages, [
          'parameter \'attempts\': expected an integer, got "3.5"',
          '--param "noequals": expected name=value',
          'parameter \'dry_run\': expected true or false, got "maybe"',
          'labels',
          'parameter \'ratio\': expected a number, got ""',
          "parameter 'attempts' is given more than once",
        ])
        assert.match(error.message, /^--param values are invalid: parameter 'attempts': expected an integer/)
        return true
      },
    )
  })

  it('matches select options that are not strings', () => {
    assert.deepEqual(coerceParameterText({ type: 'select', required: false, options: [1, 2] }, '2'), {
      value: 2,
    })
    assert.deepEqual(coerceParameterText({ type: 'select', required: false, options: ['1', 2] }, '1'), {
      value: '1',
    })
    assert.deepEqual(coerceParameterText({ type: 'array', required: false }, '{}'), {
      problem: 'expected a list, got an object',
    })
  })
})

describe('sampleParameterValues', () => {
  it('uses the default, else the first option or allowed value, else a sample of the type', () => {
    assert.deepEqual(sampleParameterValues(bugFix), {
      bug_report: 'sample',
      priority: 'medium',
      attempts: 3,
      ratio: 1,
      dry_run: true,
      labels: [],
      settings: {},
      region: 'eu',
    })
  })
})

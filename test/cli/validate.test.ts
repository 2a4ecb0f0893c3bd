import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { EXAMPLES, makeTempDir, removeDir, runCli } from './cli-harness.ts'

describe('harmonia validate', () => {
  let dir: string
  before(async () => {
    dir = await makeTempDir()
  })
  after(() => removeDir(dir))

  it('accepts every example', async () => {
    const expected: Record<string, string> = {
      'hello.yaml': 'valid: hello (1 task)',
      'parallel-fanout.json': 'valid: parallel-fanout (2 tasks)',
      'retries-and-failure.yaml': 'valid: retries-and-failure (4 tasks)',
      'subworkflow.yaml': 'valid: subworkflow (2 tasks)',
    }
    for (const [file, line] of Object.entries(expected)) {
      const result = await runCli(['validate', path.join(EXAMPLES, file)], { cwd: dir })
      assert.equal(result.code, 0, `${file}: ${result.stderr}`)
      assert.equal(result.stdout, `${line}\n`)
      assert.equal(result.stderr, '')
    }
    assert.ok(!existsSync(path.join(dir, '.harmonia')), 'validate opens no store')
  })

  it('prints every problem on its own line and exits 2', async () => {
    await writeFile(
      path.join(dir, 'many.json'),
      JSON.stringify({
        name: 'many',
        tasks: {
          fetch: { component: 'http', action: 'request', input: { url: '${workflow.input.url' } },
          parse: { component: 'core', action: 'transform', depends_on: ['fech'], input: { x: 1 } },
          store: { component: 'core', action: 'teleport', input: { y: '${tasks.parse.output}' } },
          loop1: { component: 'core', action: 'echo', depends_on: ['loop2'] },
          loop2: { component: 'core', action: 'echo', depends_on: ['loop1'] },
        },
      }),
    )
    const result = await runCli(['validate', 'many.json'], { cwd: dir })
    assert.equal(result.code, 2)
    assert.equal(result.stdout, '')
    const [head, ...problems] = result.stderr.trimEnd().split('\n')
    assert.equal(head, `error: workflow 'many' (many.json) is invalid (${problems.length} problems):`)
    assert.equal(problems.length, 5, result.stderr)
    const expect = (pattern: RegExp): void =>
      assert.ok(
        problems.some((line) => pattern.test(line)),
        `no line matches ${pattern}:\n${result.stderr}`,
      )
    expect(/^ {2}- task 'fetch', input\.url: /)
    expect(/^ {2}- task 'parse', depends_on\[0\]: unknown task 'fech'.*fetch/)
    expect(/^ {2}- task 'store'.*teleport/)
    expect(/^ {2}- task 'loop[12]', depends_on: .*cycle: loop\d -> loop\d -> loop\d/)
    // The cycle does not hide the reference to a task that is not upstream.
    expect(/^ {2}- task 'store', input\.y: refers to task 'parse', which is not upstream of 'store'/)
  })

  it('reports an expression that reads a task that does not run before it', async () => {
    await writeFile(
      path.join(dir, 'upstream.yaml'),
      [
        'name: upstream',
        'tasks:',
        '  parse: { component: core, action: echo, input: { x: 1 } }',
        '  store: { component: core, action: echo, input: { y: "${tasks.parse.output}" } }',
      ].join('\n'),
    )
    const result = await runCli(['validate', 'upstream.yaml'], { cwd: dir })
    assert.equal(result.code, 2)
    assert.match(result.stderr, /^error: workflow 'upstream' \(upstream\.yaml\) is invalid \(1 problem\):$/m)
    assert.match(result.stderr, /^ {2}- task 'store', input\.y: .*'parse'.*depends_on/m)
  })

  it('reports a definition that is not an object, and a JSON syntax error with its line', async () => {
    await writeFile(path.join(dir, 'list.yaml'), '- a\n- b\n')
    const list = await runCli(['validate', 'list.yaml'], { cwd: dir })
    assert.equal(list.code, 2)
    assert.match(
      list.stderr,
      /^error: workflow in list\.yaml is invalid \(1 problem\):\n {2}- a workflow definition must be an object/,
    )

    await writeFile(path.join(dir, 'broken.json'), '{\n  "name": "x",\n  "tasks": {,}\n}\n')
    const broken = await runCli(['validate', 'broken.json'], { cwd: dir })
    assert.equal(broken.code, 2)
    assert.match(
      broken.stderr,
      /^error: broken\.json: definition is not valid JSON: .* at line 3, column \d+$/m,
    )
  })

  it('answers JSON with --json', async () => {
    const ok = await runCli(['validate', path.join(EXAMPLES, 'hello.yaml'), '--json'], { cwd: dir })
    assert.equal(ok.code, 0)
    assert.deepEqual(JSON.parse(ok.stdout), { valid: true, name: 'hello', tasks: 1, errors: [] })

    await writeFile(
      path.join(dir, 'dep.yaml'),
      'name: dep\ntasks:\n  a: { component: core, action: echo, depends_on: [b] }\n',
    )
    const bad = await runCli(['validate', 'dep.yaml', '--json'], { cwd: dir })
    assert.equal(bad.code, 2)
    const report = JSON.parse(bad.stdout) as {
      valid: boolean
      errors: Array<{ task: string; field: string }>
    }
    assert.equal(report.valid, false)
    assert.equal(report.errors.length, 1)
    assert.equal(report.errors[0]!.task, 'a')
    assert.equal(report.errors[0]!.field, 'depends_on[0]')
  })
})

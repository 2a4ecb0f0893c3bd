/**
 * `harmonia run` as a user runs it: the real command in a child process, in a temp directory, on a SQLite
 * store under `--data-dir`. The examples behave as examples/README.md says; bad definitions and inputs
 * exit 2 naming the problem; failures exit 1; `--json` prints one object; Ctrl-C leaves a resumable run.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import packageJson from '../../package.json' with { type: 'json' }
import {
  EXAMPLES,
  executionIdOf,
  makeTempDir,
  removeDir,
  runCli,
  startCli,
  startRecordingServer,
  trailingJson,
  type RecordingServer,
} from './cli-harness.ts'

let dir: string
before(async () => {
  dir = await makeTempDir()
})
after(() => removeDir(dir))

const example = (name: string): string => path.join(EXAMPLES, name)
const write = async (name: string, text: string): Promise<string> => {
  await writeFile(path.join(dir, name), text)
  return name
}

describe('harmonia run: the examples', () => {
  it('hello.yaml greets World by default and Ada when asked', async () => {
    const result = await runCli(['run', example('hello.yaml'), '--data-dir', 'data'], { cwd: dir })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /^\d\d:\d\d:\d\d execution exec-[0-9a-f-]+ started: hello \(1 task\)$/m)
    assert.match(result.stdout, /^\d\d:\d\d:\d\d task greet started$/m)
    assert.match(result.stdout, /^\d\d:\d\d:\d\d task greet completed in \d+ ms$/m)
    assert.match(result.stdout, /^\d\d:\d\d:\d\d execution completed in /m)
    assert.deepEqual(trailingJson(result.stdout), { greeting: 'Hello, World!', letters: 5 })
    assert.equal(result.stderr, '')
    assert.ok(existsSync(path.join(dir, 'data', 'harmonia.db')), 'the SQLite store is in the data dir')

    const ada = await runCli(['run', example('hello.yaml'), '--data-dir', 'data', '--input', 'name=Ada'], {
      cwd: dir,
    })
    assert.equal(ada.code, 0, ada.stderr)
    assert.deepEqual(trailingJson(ada.stdout), { greeting: 'Hello, Ada!', letters: 3 })
  })

  it('retries-and-failure.yaml retries with backoff, times out, continues, and completes', async () => {
    const result = await runCli(['run', example('retries-and-failure.yaml'), '--data-dir', 'data'], {
      cwd: dir,
    })
    assert.equal(result.code, 0, result.stderr)
    const out = result.stdout
    assert.match(
      out,
      /task flaky attempt 1\/3 failed: UPSTREAM_UNAVAILABLE: the upstream service did not answer; retrying in \d+ ms/,
    )
    assert.match(out, /task flaky attempt 2\/3 failed: UPSTREAM_UNAVAILABLE: .*; retrying in \d+ ms/)
    assert.match(
      out,
      /task flaky failed after 3 attempts: UPSTREAM_UNAVAILABLE: the upstream service did not answer/,
    )
    assert.match(out, /task slow failed after 1 attempt: TIMEOUT: /)
    assert.match(out, /task fallback completed/)
    assert.match(out, /task report completed/)
    assert.deepEqual(trailingJson(out), {
      flaky: 'failed (UPSTREAM_UNAVAILABLE)',
      slow: 'failed (TIMEOUT)',
      served_from: 'cache',
    })
  })

  it('subworkflow.yaml runs its inline child workflow and uses its output', async () => {
    const result = await runCli(['run', example('subworkflow.yaml'), '--data-dir', 'data'], { cwd: dir })
    assert.equal(result.code, 0, result.stderr)
    assert.match(result.stdout, /task measure completed/)
    assert.deepEqual(trailingJson(result.stdout), {
      summary: '4 of 8 numbers are at least 4',
      large: [4, 5, 9, 6],
    })
    const custom = await runCli(
      [
        'run',
        example('subworkflow.yaml'),
        '--data-dir',
        'data',
        '--input',
        'numbers=[10, 20, 30]',
        '-i',
        'threshold=15',
      ],
      { cwd: dir },
    )
    assert.equal(custom.code, 0, custom.stderr)
    assert.deepEqual(trailingJson(custom.stdout), {
      summary: '2 of 3 numbers are at least 15',
      large: [20, 30],
    })
  })

  describe('parallel-fanout.json against a local server', () => {
    let server: RecordingServer
    before(async () => {
      let flaky = 0
      server = await startRecordingServer((request, res) => {
        if (request.path === '/flaky' && flaky++ === 0) {
          res.writeHead(503).end('try again')
        }
      })
    })
    after(() => server.close())

    it('fetches every URL once (the flaky one twice), with per-item idempotency keys, and reports statuses', async () => {
      const paths = ['/a', '/b', '/flaky', '/c', '/d', '/e']
      await write('fanout-input.json', JSON.stringify({ urls: paths.map((p) => `${server.url}${p}`) }))
      const result = await runCli(
        ['run', example('parallel-fanout.json'), '--data-dir', 'data', '--input-file', 'fanout-input.json'],
        { cwd: dir },
      )
      assert.equal(result.code, 0, result.stderr)
      const executionId = executionIdOf(result.stdout)
      assert.match(result.stdout, /task fetch started over 6 items/)
      assert.match(result.stdout, /task fetch item 2 attempt 1\/3 failed: SERVER_ERROR: .*; retrying in/)
      assert.deepEqual(trailingJson(result.stdout), {
        urls: paths.map((p) => `${server.url}${p}`),
        statuses: [200, 200, 200, 200, 200, 200],
        fetched: 6,
        ok: 6,
      })
      for (const [index, p] of paths.entries()) {
        const calls = server.calls(p)
        assert.equal(calls.length, p === '/flaky' ? 2 : 1, p)
        for (const call of calls) assert.equal(call.idempotencyKey, `${executionId}:fetch:${index}`)
      }
    })
  })
})

describe('harmonia run: exit codes and messages', () => {
  it('exits 2 on a YAML syntax error, naming the file, line and column', async () => {
    const file = await write('bad.yaml', 'name: bad\ntasks:\n  a:\n    component: core\n    input: [1, 2\n')
    const result = await runCli(['run', file, '--data-dir', 'data'], { cwd: dir })
    assert.equal(result.code, 2)
    assert.match(
      result.stderr,
      /^error: bad\.yaml: definition is not valid YAML: .* at line \d+, column \d+$/m,
    )
    assert.equal(result.stdout, '')
  })

  it('exits 2 on an unknown dependency, a cycle and an unknown component, each problem on its own line', async () => {
    const file = await write(
      'broken.yaml',
      [
        'name: broken',
        'tasks:',
        '  a: { component: core, action: echo, depends_on: [b] }',
        '  b: { component: core, action: echo, depends_on: [a] }',
        '  c: { component: core, action: echo, depends_on: [fech] }',
        '  d: { component: nope, action: go }',
      ].join('\n'),
    )
    const result = await runCli(['run', file, '--data-dir', 'fresh'], { cwd: dir })
    assert.equal(result.code, 2)
    const lines = result.stderr.trimEnd().split('\n')
    assert.match(lines[0]!, /^error: workflow 'broken' \(broken\.yaml\) is invalid \(\d+ problems\):$/)
    const problems = lines.slice(1)
    assert.ok(
      problems.every((line) => line.startsWith('  - ')),
      result.stderr,
    )
    assert.ok(
      problems.some((line) => /^ {2}- task 'c', depends_on\[0\]: unknown task 'fech'/.test(line)),
      result.stderr,
    )
    assert.ok(
      problems.some((line) => /cycle: (a -> b -> a|b -> a -> b)/.test(line)),
      result.stderr,
    )
    assert.ok(
      problems.some((line) => /^ {2}- task 'd'.*'nope'/.test(line)),
      result.stderr,
    )
    assert.ok(!existsSync(path.join(dir, 'fresh')), 'an invalid definition opens no store')
  })

  it('exits 2 when the input does not match the schema, naming the field', async () => {
    // (`--input name=42` is the text "42" for a string field; an input file keeps JSON's types.)
    await writeFile(path.join(dir, 'wrong-input.json'), '{"name": 42}')
    const result = await runCli(
      ['run', example('hello.yaml'), '--data-dir', 'data', '--input-file', 'wrong-input.json'],
      { cwd: dir },
    )
    assert.equal(result.code, 2)
    assert.match(result.stderr, /^error: .*input/m)
    assert.match(result.stderr, /name/)
    assert.match(result.stderr, /string/)
  })

  it('exits 2 on a missing file, a bad --input and an unknown option', async () => {
    const missing = await runCli(['run', 'missing.yaml', '--data-dir', 'data'], { cwd: dir })
    assert.equal(missing.code, 2)
    assert.equal(missing.stderr, "error: cannot read workflow file 'missing.yaml': no such file\n")
    const badInput = await runCli(['run', example('hello.yaml'), '--data-dir', 'data', '--input', 'oops'], {
      cwd: dir,
    })
    assert.equal(badInput.code, 2)
    assert.match(badInput.stderr, /^error: --input 'oops' is not key=value/m)
    const unknown = await runCli(['run', example('hello.yaml'), '--bogus'], { cwd: dir })
    assert.equal(unknown.code, 2)
    assert.match(unknown.stderr, /^error: unknown option '--bogus'/m)
    const noFile = await runCli(['run'], { cwd: dir })
    assert.equal(noFile.code, 2)
    assert.match(noFile.stderr, /error: missing required argument 'file'/)
  })

  it('exits 1 when the execution fails, naming the failed task and its error', async () => {
    const file = await write(
      'fails.yaml',
      [
        'name: fails',
        'tasks:',
        '  boom: { component: core, action: fail, input: { code: BOOM, message: it broke } }',
        '  after: { component: core, action: echo, depends_on: [boom] }',
      ].join('\n'),
    )
    const result = await runCli(['run', file, '--data-dir', 'data'], { cwd: dir })
    assert.equal(result.code, 1)
    assert.match(result.stdout, /task boom failed after 1 attempt: BOOM: it broke/)
    assert.match(result.stderr, /^error: execution exec-[0-9a-f-]+ failed: task 'boom' failed: it broke$/m)
    assert.match(result.stderr, /^ {2}- task 'boom': BOOM: it broke$/m)
  })

  it('prints the version', async () => {
    const result = await runCli(['--version'], { cwd: dir })
    assert.equal(result.code, 0)
    assert.equal(result.stdout.trim(), packageJson.version)
  })
})

describe('harmonia run --json', () => {
  it('prints one JSON object and nothing else on stdout', async () => {
    const result = await runCli(
      ['run', example('hello.yaml'), '--data-dir', 'data', '--json', '-i', 'name=Ada'],
      {
        cwd: dir,
      },
    )
    assert.equal(result.code, 0, result.stderr)
    const report = JSON.parse(result.stdout) as Record<string, unknown>
    assert.match(report['execution_id'] as string, /^exec-/)
    assert.equal(report['status'], 'completed')
    assert.deepEqual(report['output'], { greeting: 'Hello, Ada!', letters: 3 })
    assert.equal(report['error'], null)
    const tasks = report['tasks'] as Record<string, Record<string, unknown>>
    assert.deepEqual(Object.keys(tasks), ['greet'])
    assert.equal(tasks['greet']!['status'], 'completed')
    assert.equal(tasks['greet']!['attempts'], 1)
    assert.deepEqual(tasks['greet']!['output'], { greeting: 'Hello, Ada!', letters: 3 })
    assert.equal(typeof tasks['greet']!['duration_ms'], 'number')
    assert.match(result.stderr, new RegExp(`execution ${report['execution_id']} started`))
  })

  it('reports a failure with its error, exit 1', async () => {
    const file = await write(
      'fails-json.yaml',
      'name: fails\ntasks:\n  boom: { component: core, action: fail, input: { code: BOOM, message: it broke } }\n',
    )
    const result = await runCli(['run', file, '--data-dir', 'data', '--json'], { cwd: dir })
    assert.equal(result.code, 1)
    const report = JSON.parse(result.stdout) as {
      status: string
      error: { code: string; message: string; task: string }
      tasks: Record<string, { status: string; error: { code: string } }>
    }
    assert.equal(report.status, 'failed')
    assert.equal(report.error.code, 'BOOM')
    assert.equal(report.error.task, 'boom')
    assert.equal(report.tasks['boom']!.status, 'failed')
    assert.equal(report.tasks['boom']!.error.code, 'BOOM')
  })
})

describe('harmonia run: long runs', () => {
  it('keeps the lease of a run that lasts several lease periods, and of its child executions', async () => {
    const cwd = path.join(dir, 'short-lease')
    await mkdir(cwd)
    await writeFile(path.join(cwd, 'harmonia.config.yaml'), 'engine:\n  leaseMs: 150\n')
    await writeFile(
      path.join(cwd, 'long.yaml'),
      [
        'name: long',
        'tasks:',
        '  wait: { component: core, action: delay, input: { ms: 700 } }',
        '  child:',
        '    component: workflow',
        '    action: run',
        '    depends_on: [wait]',
        '    input:',
        '      workflow:',
        '        name: inner',
        '        tasks: { nap: { component: core, action: delay, input: { ms: 700 } } }',
        '        output: { napped: "${tasks.nap.output.waited_ms >= 0}" }',
        'output: { napped: "${tasks.child.output.napped}" }',
      ].join('\n'),
    )
    const result = await runCli(['run', 'long.yaml', '--data-dir', 'data'], { cwd })
    assert.equal(result.code, 0, result.stderr)
    assert.deepEqual(trailingJson(result.stdout), { napped: true })
  })
})

describe('harmonia run: Ctrl-C', () => {
  it('stops gracefully, says how to resume, exits 130; resume finishes the execution', async () => {
    // Its own directory, whose config file gives running tasks 100 ms to finish after Ctrl-C.
    const cwd = path.join(dir, 'ctrl-c')
    await mkdir(cwd)
    await writeFile(path.join(cwd, 'harmonia.config.yaml'), 'server:\n  shutdownGraceMs: 100\n')
    await writeFile(
      path.join(cwd, 'slow.yaml'),
      [
        'name: slow',
        'tasks:',
        '  first: { component: core, action: echo, input: { n: 1 } }',
        '  wait: { component: core, action: delay, depends_on: [first], input: { ms: 1500 } }',
        '  last: { component: core, action: transform, depends_on: [wait], input: { done: true } }',
        'output: { done: "${tasks.last.output.done}" }',
      ].join('\n'),
    )
    const cli = startCli(['run', 'slow.yaml', '--data-dir', 'interrupted'], { cwd })
    await cli.waitForLine(/task wait started/)
    const executionId = executionIdOf(cli.stdout())
    cli.child.kill('SIGINT')
    const result = await cli.done
    assert.equal(result.code, 130, result.stderr)
    assert.match(result.stderr, /stopping: waiting up to 100 ms for running tasks/)
    assert.match(
      result.stderr,
      new RegExp(
        `interrupted: execution ${executionId} is unfinished; resume it with: harmonia resume ${executionId} --data-dir interrupted`,
      ),
    )
    assert.doesNotMatch(result.stdout, /task last/)

    const resumed = await runCli(['resume', executionId, '--data-dir', 'interrupted'], { cwd })
    assert.equal(resumed.code, 0, resumed.stderr)
    assert.match(resumed.stdout, new RegExp(`resuming execution ${executionId}: slow \\(1/3 tasks done\\)`))
    assert.match(resumed.stdout, /task wait completed/)
    assert.match(resumed.stdout, /task last completed/)
    assert.doesNotMatch(resumed.stdout, /task first/)
    assert.deepEqual(trailingJson(resumed.stdout), { done: true })
  })
})

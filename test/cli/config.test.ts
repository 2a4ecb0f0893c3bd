import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { cliEnv, makeTempDir, removeDir, runCli } from './cli-harness.ts'

describe('harmonia config print', () => {
  let dir: string
  before(async () => {
    dir = await makeTempDir()
    await writeFile(
      path.join(dir, 'harmonia.config.yaml'),
      'dataDir: from-file\nengine:\n  maxConcurrentTasks: 50\nserver:\n  port: 9000\n',
    )
  })
  after(() => removeDir(dir))

  it('prints the resolved config: flags over environment over the file over defaults, secrets masked', async () => {
    const result = await runCli(['config', 'print', '--storage', 'file'], {
      cwd: dir,
      env: cliEnv({
        HARMONIA_PORT: '9100',
        HARMONIA_DATABASE_URL: 'postgres://harmonia:s3cret@db.example:5432/harmonia',
        HARMONIA_LLM_API_KEY: 'sk-very-secret',
        HARMONIA_API_KEYS: 'admin-key-123456:admin',
      }),
    })
    assert.equal(result.code, 0, result.stderr)
    const config = JSON.parse(result.stdout) as {
      dataDir: string
      storage: { kind: string; databaseUrl: string }
      server: { port: number; apiKeys: Array<{ key: string; scope: string }> }
      engine: { maxConcurrentTasks: number }
      llm: { apiKey: string }
      log: { level: string }
    }
    assert.equal(config.dataDir, 'from-file')
    assert.equal(config.engine.maxConcurrentTasks, 50)
    assert.equal(config.server.port, 9100, 'the environment beats the file')
    assert.equal(config.storage.kind, 'file', 'the flag beats the default')
    assert.equal(config.storage.databaseUrl, 'postgres://harmonia:***@db.example:5432/harmonia')
    assert.equal(config.llm.apiKey, '***')
    assert.deepEqual(config.server.apiKeys, [{ key: '***', scope: 'admin' }])
    assert.equal(config.log.level, 'warn', 'the CLI logs warnings and errors unless told otherwise')
    for (const secret of ['s3cret', 'sk-very-secret', 'admin-key-123456']) {
      assert.ok(!result.stdout.includes(secret), `${secret} is masked`)
    }

    const flagged = await runCli(['config', 'print', '--data-dir', 'from-flag', '--log-level', 'debug'], {
      cwd: dir,
      env: cliEnv({ HARMONIA_DATA_DIR: 'from-env' }),
    })
    const flaggedConfig = JSON.parse(flagged.stdout) as { dataDir: string; log: { level: string } }
    assert.equal(flaggedConfig.dataDir, 'from-flag')
    assert.equal(flaggedConfig.log.level, 'debug')
  })

  it('reports every problem of an invalid config file, exit 2', async () => {
    await writeFile(path.join(dir, 'bad.json'), JSON.stringify({ engine: { leaseMs: 1 }, colour: 'blue' }))
    const result = await runCli(['config', 'print', '--config', 'bad.json'], { cwd: dir })
    assert.equal(result.code, 2)
    const lines = result.stderr.trimEnd().split('\n')
    assert.equal(lines[0], 'error: invalid configuration')
    assert.ok(
      lines.some((line) => /^ {2}- config: must NOT have additional properties 'colour'$/.test(line)),
      result.stderr,
    )
    assert.ok(
      lines.some((line) => /^ {2}- engine\.leaseMs: must be >= 100$/.test(line)),
      result.stderr,
    )

    const missing = await runCli(['config', 'print', '--config', 'nope.yaml'], { cwd: dir })
    assert.equal(missing.code, 2)
    assert.match(missing.stderr, /^error: cannot read config file '.*nope\.yaml': no such file$/m)

    const badLevel = await runCli(['config', 'print', '--log-level', 'loud'], { cwd: dir })
    assert.equal(badLevel.code, 2)
    assert.match(badLevel.stderr, /error: option '--log-level <level>' argument 'loud' is invalid/)
  })
})

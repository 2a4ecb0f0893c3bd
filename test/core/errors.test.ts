import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import {
  ErrorCode,
  HarmoniaError,
  TaskFailure,
  ValidationError,
  formatIssue,
  toTaskError,
} from '../../src/core/errors.ts'

test('docs/errors.md lists exactly the error codes the code defines', async () => {
  const doc = await readFile(new URL('../../docs/errors.md', import.meta.url), 'utf8')
  const apiSection = doc.split('## Task error codes')[0]!
  const documented = new Set([...apiSection.matchAll(/^\|\s*`([a-z_]+)`\s*\|/gm)].map((m) => m[1]))
  const defined = new Set(Object.values(ErrorCode))
  assert.deepEqual([...documented].sort(), [...defined].sort())
})

test('codes are never reused for two names', () => {
  const values = Object.values(ErrorCode)
  assert.equal(new Set(values).size, values.length)
})

test('ValidationError lists every issue in its message and details', () => {
  const error = new ValidationError("workflow 'w' is invalid", [
    { task: 'fetch', field: 'depends_on[0]', message: "unknown task 'fech'" },
    { field: 'name', message: 'is required' },
  ])
  assert.equal(error.code, 'validation_error')
  assert.equal(
    error.message,
    "workflow 'w' is invalid: task 'fetch', depends_on[0]: unknown task 'fech'; name: is required",
  )
  assert.deepEqual(error.toJSON().details, {
    errors: [
      { task: 'fetch', field: 'depends_on[0]', message: "unknown task 'fech'" },
      { field: 'name', message: 'is required' },
    ],
  })
  assert.ok(error instanceof HarmoniaError)
})

test('toTaskError keeps a failure’s code and retriable flag and classifies the rest', () => {
  assert.deepEqual(toTaskError(new TaskFailure('SERVER_ERROR', 'bad gateway', { retriable: true })), {
    code: 'SERVER_ERROR',
    message: 'bad gateway',
    retriable: true,
  })
  assert.deepEqual(toTaskError(new Error('plain')), {
    code: 'TASK_ERROR',
    message: 'plain',
    retriable: false,
  })
  assert.equal(toTaskError(new DOMException('timed out', 'TimeoutError')).code, 'TIMEOUT')
  assert.equal(toTaskError('a string').message, 'a string')
  assert.equal(formatIssue({ message: 'alone' }), 'alone')
})

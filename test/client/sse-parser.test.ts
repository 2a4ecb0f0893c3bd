import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { SseParser, type SseEvent } from '../../src/client/event-stream.ts'

function parseAll(...chunks: string[]): { events: SseEvent[]; parser: SseParser } {
  const parser = new SseParser()
  const events = chunks.flatMap((chunk) => parser.feed(chunk))
  return { events, parser }
}

describe('SseParser', () => {
  it('parses event, id and data fields, with the default event name "message"', () => {
    const { events } = parseAll('id: 3\nevent: task_started\ndata: {"seq":3}\n\ndata: plain\n\n')
    assert.deepEqual(events, [
      { event: 'task_started', data: '{"seq":3}', id: '3' },
      { event: 'message', data: 'plain', id: '3' },
    ])
  })

  it('joins several data lines with newlines and removes only one leading space', () => {
    const { events } = parseAll('data:  two spaces\ndata:none\ndata\n\n')
    assert.deepEqual(events, [{ event: 'message', data: ' two spaces\nnone\n', id: undefined }])
  })

  it('accepts LF, CRLF and CR line ends, also split between chunks', () => {
    const { events } = parseAll('data: a\r', '\n\r', '\ndata: b\rdata: c\r\r', 'data: d\n', '\n')
    assert.deepEqual(
      events.map((event) => event.data),
      ['a', 'b\nc', 'd'],
    )
  })

  it('waits for the blank line however the text is cut, one character at a time included', () => {
    const text = 'event: snapshot\ndata: {"x":1}\n\nid: 7\nevent: end\ndata: {}\n\n'
    const { events } = parseAll(...text.split(''))
    assert.deepEqual(events, [
      { event: 'snapshot', data: '{"x":1}', id: undefined },
      { event: 'end', data: '{}', id: '7' },
    ])
  })

  it('ignores comments (heartbeats), unknown fields and a leading byte order mark', () => {
    const { events } = parseAll('\uFEFF: heartbeat\nfoo: bar\ndata: x\n\n: another\n\n')
    assert.deepEqual(events, [{ event: 'message', data: 'x', id: undefined }])
  })

  it('does not dispatch an event without data, but keeps its id and resets its name', () => {
    const { events, parser } = parseAll('id: 9\nevent: lonely\n\ndata: y\n\n')
    assert.deepEqual(events, [{ event: 'message', data: 'y', id: '9' }])
    assert.equal(parser.lastEventId, '9')
  })

  it('keeps the last event id across events until another one is given; an id with NUL is ignored', () => {
    const { events } = parseAll('id: 1\ndata: a\n\ndata: b\n\nid: 2\0\ndata: c\n\nid:\ndata: d\n\n')
    assert.deepEqual(
      events.map((event) => event.id),
      ['1', '1', '1', ''],
    )
  })

  it('reads retry only when it is all digits', () => {
    const parser = new SseParser()
    parser.feed('retry: 2000\n\n')
    assert.equal(parser.retryMs, 2000)
    parser.feed('retry: 1e3\n\nretry: -5\n\n')
    assert.equal(parser.retryMs, 2000)
  })

  it('discards an event that the stream ended before its blank line', () => {
    const parser = new SseParser()
    assert.deepEqual(parser.feed('data: complete\n\ndata: cut'), [
      { event: 'message', data: 'complete', id: undefined },
    ])
    parser.end()
    assert.deepEqual(parser.feed('\n\n'), [])
  })
})

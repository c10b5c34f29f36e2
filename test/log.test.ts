/**
 * The processes' log lines (common/log.ts): one JSON object per line with its level, time, component, message and
 * fields, unprintable text from outside escaped without loss, the Temporal SDK's levels and metadata mapped onto
 * it; and `npm run dev`'s pretty form of them (scripts/pretty-log.ts), which keeps that text escaped.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLogger, temporalLogger, type LogLevel } from '../common/log';
import { printable } from '../common/text';
import { prettyLogLine } from '../scripts/pretty-log';

function capture(level: LogLevel = 'info') {
  const lines: string[] = [];
  return { lines, log: createLogger('ingress', level, { write: (line) => lines.push(line) }) };
}
const parsed = (line: string) => JSON.parse(line) as Record<string, unknown>;

describe('log lines', () => {
  it('are one JSON object each: level, ISO time, component, message and fields, errors by name and message', () => {
    const { lines, log } = capture();
    log.info('polling', { queueUrl: 'http://q', count: 3 });
    log.warn('not handed over', { error: new TypeError('fetch failed') });
    assert.equal(lines.length, 2);
    for (const line of lines) assert.ok(line.endsWith('}\n') && line.indexOf('\n') === line.length - 1);
    const [first, second] = lines.map(parsed);
    assert.deepEqual(
      { ...first, time: undefined },
      {
        level: 'info',
        time: undefined,
        component: 'ingress',
        msg: 'polling',
        queueUrl: 'http://q',
        count: 3,
      },
    );
    assert.match(String(first!.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(second!.level, 'warn');
    assert.equal(second!.error, 'TypeError: fetch failed');
  });

  it('leave out what is below the level', () => {
    const { lines, log } = capture('warn');
    log.debug('d');
    log.info('i');
    log.error('e');
    assert.deepEqual(
      lines.map((l) => parsed(l).msg),
      ['e'],
    );
  });

  it('escape every unprintable character of outside text, and parse back to that very text', () => {
    const { lines, log } = capture();
    const forged =
      'not json\r\n2026-01-01T00:00:00.000Z ERROR forged\u009b2J a\u001b[31mred\u202e\u2028\ud800.csv';
    log.error(forged, { key: forged });
    const [line] = lines;
    assert.equal(printable(line!.trimEnd()), line!.trimEnd(), 'a raw unprintable character in the line');
    assert.equal(parsed(line!).msg, forged);
    assert.equal(parsed(line!).key, forged);
  });

  it('carry the Temporal SDK’s lines at the matching level, with its metadata as fields', () => {
    const { lines, log } = capture('debug');
    const sdk = temporalLogger(log);
    sdk.trace('t');
    sdk.info('Activity completed', { workflowId: 'file:b/k@v', runId: 'r1', activityType: 'inspect' });
    sdk.log('ERROR', 'Workflow task failed', { workflowId: 'file:b/k@v' });
    assert.deepEqual(
      lines.map((l) => [parsed(l).level, parsed(l).msg, parsed(l).workflowId]),
      [
        ['debug', 't', undefined],
        ['info', 'Activity completed', 'file:b/k@v'],
        ['error', 'Workflow task failed', 'file:b/k@v'],
      ],
    );
    assert.equal(parsed(lines[1]!).activityType, 'inspect');
  });

  it('print pretty in npm run dev, outside text still escaped, other lines as they are', () => {
    const { lines, log } = capture();
    log.info('dead-lettered a\u001b[31mred.csv', { reason: 'not json' });
    const pretty = prettyLogLine(false);
    const line = pretty(`ingress | ${lines[0]!.trimEnd()}`);
    assert.match(
      line,
      /^ingress \| \[\d\d:\d\d:\d\d\.\d{3}\] INFO: dead-lettered a\\u001b\[31mred\.csv \{"reason":"not json"\}$/,
    );
    assert.equal(pretty('temporal | plain text'), 'temporal | plain text');
  });
});

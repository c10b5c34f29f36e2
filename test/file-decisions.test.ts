/**
 * The decisions the file workflow delegates to its pure modules (workflows/inspection.ts, file-report.ts,
 * messages.ts, file-details.ts): where a file goes and with which job, when its rows fail it, what its report
 * and merged output say, which SQS messages are still to delete, and what its page shows. No Temporal server.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { objectSchema, type ObjectInfo } from '../activities/objects';
import type { ComputeResult } from '../activities/compute';
import { FAILURES, FailureType } from '../contract/failures';
import { JOB_NAMES } from '../contract/jobs';
import type { Summary } from '../contract/reports';
import type { ProcessFileOptions, QueueMessage } from '../contract/workflow';
import { fileDetails } from '../workflows/file-details';
import {
  backendOf,
  checkRejectedShare,
  checkRows,
  fileReport,
  mergedOutputMetadata,
  wholeRunOutcome,
} from '../workflows/file-report';
import { inspectedFile, routingOf, type InspectedFile } from '../workflows/inspection';
import { MessageBook } from '../workflows/messages';
import { DEFAULT_SCHEMA } from './support/stubs';

const MiB = 1024 * 1024;
const AT = '2025-01-02T03:04:05.000Z';

function info(
  key: string,
  size: number,
  metadata: Record<string, string> = {},
  versionId?: string,
): ObjectInfo {
  return {
    bucket: 'in',
    key,
    etag: 'e1',
    ...(versionId ? { versionId } : {}),
    size,
    metadata,
    schema: metadata.schema ? objectSchema(metadata, `s3://in/${key}`) : DEFAULT_SCHEMA,
  };
}

function inspect(i: ObjectInfo, options: ProcessFileOptions = {}): InspectedFile {
  return inspectedFile(i, routingOf(i, options), options, AT);
}

/** Asserts `fn` throws an ApplicationFailure of `type` and returns it. */
function failureOf(fn: () => unknown, type: string): ApplicationFailure {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, type);
    return err;
  }
  assert.fail(`expected a ${type} failure`);
}

const summary = (s: Partial<Summary> = {}): Summary => ({
  rowsIn: 10,
  rowsOut: 10,
  rowsRejected: 0,
  bareQuoteFields: 0,
  bytesIn: 100,
  rejectsByRule: {},
  columns: {},
  totals: {},
  ...s,
});

describe('routing', () => {
  const route = (size: number, metadata: Record<string, string> = {}, options: ProcessFileOptions = {}) =>
    routingOf(info('a.csv', size, metadata), options);

  it('sends pool to Batch and inline inline, whatever the size; any other type to ECS', () => {
    assert.deepEqual(route(10 * 1024 * MiB, { 'processor-type': 'pool' }), {
      processorType: 'pool',
      route: 'batch',
      job: 'csv-transform',
    });
    assert.equal(route(10 * 1024 * MiB, { 'processor-type': 'inline' }).route, 'inline');
    assert.deepEqual(route(1, { 'processor-type': 'gpu' }), {
      processorType: 'gpu',
      route: 'ecs',
      job: 'csv-transform',
    });
  });

  it('runs a file with no type inline up to inlineMaxBytes inclusive, on ECS one byte over', () => {
    assert.deepEqual(route(4 * MiB), { processorType: 'default', route: 'inline', job: 'csv-transform' });
    assert.equal(route(4 * MiB + 1).route, 'ecs');
    assert.equal(route(1000, {}, { inlineMaxBytes: 1000 }).route, 'inline');
    assert.equal(route(1001, {}, { inlineMaxBytes: 1000 }).route, 'ecs');
  });

  it('turns the inline route off with inlineMaxBytes 0, even for an empty file', () => {
    assert.equal(route(0, {}, { inlineMaxBytes: 0 }).route, 'ecs');
    assert.equal(route(1, {}, { inlineMaxBytes: 0 }).route, 'ecs');
    assert.equal(route(1, { 'processor-type': 'inline' }, { inlineMaxBytes: 0 }).route, 'inline');
  });

  it('picks the job from metadata, then a named schema with a table, then the extension', () => {
    const job = (key: string, metadata: Record<string, string> = {}) =>
      routingOf(info(key, 1, metadata), {}).job;
    assert.equal(job('a.csv', { job: 'csv-validate' }), 'csv-validate');
    assert.equal(job('a.csv', { schema: 'transactions-eu' }), 'csv-to-dynamodb');
    assert.equal(job('a.csv'), 'csv-transform', 'the default schema loads nothing on its own');
    assert.equal(job('notes.MD'), 'text-to-pdf');
    assert.equal(job('a.bin'), undefined);
  });
});

describe('inspection', () => {
  it('fails an unknown job or an unmatched extension permanently, naming the jobs', () => {
    for (const [i, said] of [
      [info('a.csv', 1, { job: 'csv-magic' }), 'unknown job "csv-magic" in x-amz-meta-job'],
      [info('a.bin', 1), 'its extension matches no job'],
    ] as const) {
      const err = failureOf(() => inspect(i), FailureType.unknownJob);
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, new RegExp(`^no job for s3://in/${i.key}: ${said}\\.`));
      for (const name of JOB_NAMES) assert.ok(err.message.includes(name), name);
    }
  });

  it('fails a bad chunk-size permanently as InvalidInput naming the key', () => {
    const err = failureOf(
      () => inspect(info('a.csv', 1, { 'chunk-size': '12 parsecs' })),
      FailureType.invalidInput,
    );
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /x-amz-meta-chunk-size is "12 parsecs"/);
    assert.equal(inspect(info('a.csv', 1, { 'chunk-size': '8MiB' })).settings.chunkSize, 8 * MiB);
  });

  it("takes the metadata's csv-delimiter over the schema's; none for text-to-pdf", () => {
    const delimiter = (key: string, metadata: Record<string, string>) =>
      inspect(info(key, 1, metadata)).delimiter;
    assert.equal(delimiter('a.csv', { schema: 'transactions-eu' }), ';');
    assert.equal(delimiter('a.csv', { schema: 'transactions-eu', 'csv-delimiter': 'tab' }), '\t');
    assert.equal(delimiter('a.csv', { 'csv-delimiter': '|' }), '|');
    assert.equal(delimiter('a.csv', {}), undefined, 'the processor falls back on a comma');
    assert.equal(delimiter('a.txt', { 'csv-delimiter': '|' }), undefined);
  });

  it('passes the named schema to the validating jobs only, and fills source and keys', () => {
    const eu = { schema: 'transactions-eu' };
    assert.equal(inspect(info('a.csv', 1, { ...eu, job: 'csv-validate' })).schema, 'transactions-eu');
    assert.equal(inspect(info('a.csv', 1, eu)).schema, 'transactions-eu', 'csv-to-dynamodb');
    assert.ok(!('schema' in inspect(info('a.csv', 1, { ...eu, job: 'csv-transform' }))));
    assert.ok(!('schema' in inspect(info('a.csv', 1, { job: 'csv-validate' }))), 'the default is not named');

    const file = inspect(info('in/a.txt', 5, {}, 'v7'));
    assert.deepEqual(file.source, { bucket: 'in', key: 'in/a.txt', etag: 'e1', versionId: 'v7' });
    assert.equal(file.rejectsKey, 'rejects/outputs/in/a.txt.pdf');
  });
});

describe('row checks', () => {
  it('names both problems: rows that do not add up, and a count the scan disagrees with', () => {
    checkRows(summary({ rowsIn: 10, rowsOut: 7, rowsRejected: 3 }), 10);
    checkRows(summary(), undefined);
    const err = failureOf(() => checkRows(summary({ rowsOut: 9 }), 11), FailureType.outputInvalid);
    assert.notEqual(err.nonRetryable, true, 'a rerun writes the output again');
    assert.match(err.message, /rows in \(10\) ≠ rows out \(9\) \+ rows rejected \(0\)/);
    assert.match(err.message, /the chunks read 10 rows but the plan's scan counted 11/);
    assert.doesNotMatch(failureOf(() => checkRows(summary(), 11), FailureType.outputInvalid).message, /≠/);
  });

  it('passes rejects at the limit, fails one row over, naming the rejects key and the rules', () => {
    const at = summary({ rowsIn: 100, rowsOut: 95, rowsRejected: 5, maxRejectedPercent: 5 });
    checkRejectedShare(at, 'rejects/outputs/a.csv');
    checkRejectedShare({ ...at, rowsRejected: 100, maxRejectedPercent: undefined }, 'k');
    const over = {
      ...at,
      rowsOut: 94,
      rowsRejected: 6,
      rejectsByRule: { 'amount:type': 4, 'id:required': 2 },
    };
    const err = failureOf(() => checkRejectedShare(over, 'rejects/outputs/a.csv'), FailureType.invalidInput);
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /^6 of 100 rows \(6\.00%\) were rejected, more than the 5% allowed/);
    assert.match(err.message, /\(failed checks: amount:type 4, id:required 2\)/);
    assert.match(err.message, /The rejects are in rejects\/outputs\/a\.csv;/);
  });
});

describe('report and outputs', () => {
  it("stamps a merged output with its source, rows and chunks (the version only when there's one)", () => {
    const s = summary({ rowsIn: 10, rowsOut: 8, rowsRejected: 2 });
    const unversioned = mergedOutputMetadata(inspect(info('a.csv', 1)), s, { total: 4, failed: 1 });
    assert.deepEqual(unversioned, {
      job: 'csv-transform',
      'processed-at': AT,
      'source-bucket': 'in',
      'source-key': 'a.csv',
      'source-etag': 'e1',
      'rows-in': '10',
      'rows-out': '8',
      'rows-rejected': '2',
      chunks: '4',
      'chunks-failed': '1',
    });
    const versioned = mergedOutputMetadata(inspect(info('a.csv', 1, {}, 'v7')), s, { total: 4, failed: 1 });
    assert.deepEqual(versioned, { ...unversioned, 'source-version-id': 'v7' });
  });

  it('names the backend most chunks ran on, ignoring reused chunks', () => {
    const done = (index: number, backend: string) => ({ index, status: 'done' as const, backend });
    const reused = (index: number) => ({ index, status: 'reused' as const });
    assert.equal(backendOf([done(0, 'batch'), done(1, 'ecs'), done(2, 'ecs')]), 'ecs');
    assert.equal(backendOf([reused(0), reused(1), reused(2), done(3, 'batch')]), 'batch');
    assert.equal(backendOf([reused(0), reused(1)]), undefined);
  });

  const run = (job: string, stats: Record<string, number>, s?: Summary): ComputeResult => ({
    backend: 'inline',
    runId: 'r1',
    awsRequest: {},
    destination: { bucket: 'out', key: `outputs/${job}` },
    stats,
    ...(s ? { summary: s } : {}),
  });

  it("reports a CSV job's rows, rules and load, and one whole chunk", () => {
    const file = inspect(info('a.csv', 300, { schema: 'transactions-eu' }));
    const s = summary({
      rowsIn: 10,
      rowsOut: 9,
      rowsRejected: 1,
      rejectsByRule: { 'id:required': 1 },
      dynamodb: { table: 't', itemsWritten: 9, itemsRetried: 2 },
    });
    const outcome = wholeRunOutcome(file, run('x', { rowsIn: 10 }, s), {
      seconds: 3,
      rerouted: undefined,
      statsKey: undefined,
    });
    const report = fileReport(file, outcome, 12);
    assert.equal(report.job, 'csv-to-dynamodb');
    assert.deepEqual(report.rows, { in: 10, out: 9, rejected: 1 });
    assert.deepEqual(report.rejectsByRule, { 'id:required': 1 });
    assert.deepEqual(report.dynamodb, { table: 't', itemsWritten: 9, itemsRetried: 2, itemsRejected: 1 });
    assert.deepEqual(report.object, { bucket: 'in', key: 'a.csv', etag: 'e1', size: 300 });
    assert.deepEqual(report.chunks.list, [
      { index: 0, status: 'done', start: 0, end: 300, seconds: 3, backend: 'inline', runId: 'r1' },
    ]);
    assert.equal(report.pages, undefined);
  });

  it('reports a PDF by pages and lines, with no rows', () => {
    const file = inspect(info('a.txt', 50));
    const outcome = wholeRunOutcome(
      file,
      { ...run('x', { pages: 2, linesIn: 80 }), missingGlyphs: { count: 1, scripts: { Thai: 1 } } },
      { seconds: 1, rerouted: 'no Spot capacity', statsKey: 'staging/stats/x.json' },
    );
    assert.equal(outcome.statsKey, 'staging/stats/x.json');
    assert.equal(outcome.result.rerouted, 'no Spot capacity');
    const report = fileReport(file, outcome, 4);
    assert.equal(report.pages, 2);
    assert.equal(report.lines, 80);
    assert.deepEqual(report.missingGlyphs, { count: 1, scripts: { Thai: 1 } });
    assert.ok(!('invalidSequences' in report), 'none replaced');
    for (const csvOnly of ['rows', 'rejectsByRule', 'columns', 'totals', 'dynamodb'])
      assert.ok(!(csvOnly in report), csvOnly);
  });
});

describe('MessageBook', () => {
  const msg = (messageId: string, receiveCount: number): QueueMessage => ({
    queueUrl: 'q',
    messageId,
    receiptHandle: `${messageId}#${receiveCount}`,
    receiveCount,
    body: '{}',
  });
  const handles = (book: MessageBook) => book.pending().map((m) => m.receiptHandle);

  it('keeps one entry per message, with its latest receipt; an older receive changes nothing', () => {
    const book = new MessageBook();
    assert.equal(book.receive(msg('a', 1)), 1);
    assert.equal(book.receive(msg('a', 1)), 1, 'a duplicate signal');
    assert.equal(book.receive(msg('b', 1)), 2);
    assert.equal(book.receive(msg('a', 3)), 2);
    assert.equal(book.receive(msg('a', 2)), 2, 'a late signal of an earlier receive');
    assert.deepEqual(handles(book), ['a#3', 'b#1']);
  });

  it('makes a message received again after its deletion pending again', () => {
    const book = new MessageBook();
    book.receive(msg('a', 1));
    book.receive(msg('b', 1));
    book.acknowledged(book.pending());
    assert.deepEqual(handles(book), []);
    assert.equal(book.acknowledgedCount, 2);
    book.receive(msg('a', 2));
    assert.deepEqual(handles(book), ['a#2'], 'the old handle no longer deletes it');
    book.acknowledged(book.pending());
    assert.deepEqual(handles(book), []);
    assert.equal(book.acknowledgedCount, 2, 'messages, not deletions');
  });
});

describe('file details', () => {
  it('shows the stage, job, route, backend, chunks, rows, output, failure and its fix', () => {
    const details = fileDetails({
      stage: 'failed',
      job: 'csv-validate',
      route: 'batch',
      backend: 'ecs',
      rerouted: 'no Spot capacity',
      messages: 1,
      chunks: { total: 1200, done: 1000, reused: 150, failed: 50 },
      rows: { in: 1234567, out: 1234000, rejected: 567 },
      output: 'outputs/a.csv',
      failure: { type: FailureType.chunksFailed, message: '50 chunks failed' },
    });
    assert.deepEqual(details.split('  \n'), [
      '**Stage:** failed',
      '**Job:** csv-validate · **Route:** batch · **Backend:** ecs',
      '**Rerouted:** no Spot capacity',
      '**Chunks:** 1,150 of 1,200 done (150 reused), 50 failed',
      '**Rows:** 1,234,567 in · 1,234,000 out · 567 rejected',
      '**Output:** `outputs/a.csv`',
      '**Failure (ChunksFailed):** 50 chunks failed',
      `**Fix:** ${FAILURES.chunksFailed.fix}`,
    ]);
  });

  it('shows the stage alone before inspection, and no fix for a type outside the table', () => {
    assert.equal(fileDetails({ stage: 'received', messages: 1 }), '**Stage:** received');
    assert.equal(
      fileDetails({
        stage: 'processing',
        job: 'text-to-pdf',
        messages: 1,
        chunks: { total: 3, done: 1, reused: 0, failed: 0 },
      }),
      '**Stage:** processing  \n**Job:** text-to-pdf  \n**Chunks:** 1 of 3 done',
    );
    assert.equal(
      fileDetails({ stage: 'failed', messages: 1, failure: { type: 'Mystery', message: 'm' } }),
      '**Stage:** failed  \n**Failure (Mystery):** m',
    );
  });
});

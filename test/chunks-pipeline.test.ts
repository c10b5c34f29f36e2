/**
 * Large CSV files through the whole local pipeline (moto, Temporal dev server, worker and ingress processes):
 * a 64 MiB file in 8 MiB chunks runs in parallel chunks whose merged output is byte-identical to one run over
 * the whole file, with a report whose counts match it (and the Python peer's, when ../shared is there); a
 * worker killed three times mid-run changes nothing in the output and needs no redelivery.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { temporal } from '@temporalio/proto';
import type { Client } from '@temporalio/client';
import { workflowIdFor } from '../common/ids';
import { OUTPUT_METADATA } from '../contract/layout';
import { stagingPrefixFor } from '../activities/staging';
import type { FileReport } from '../contract/reports';
import { failureReportKey, INPUT_METADATA, reportKeyFor } from '../contract/layout';
import { awaitWorkflow, queueDepth, tableItemCount, uploadFile } from '../scripts/pipeline-client';
import type { Stack } from '../scripts/stack';
import { REPO_ROOT } from '../scripts/tools';
import type { ObjectRef } from '../contract/objects';
import { startEndToEnd, type EndToEnd } from './support/end-to-end';
import { eventually } from './support/eventually';
import { writeTransactions } from '../scripts/transactions';
import { processWhole } from './support/processor';

const SIZE = 64 * 1024 * 1024 + 4096;
const CHUNK_SIZE = '8MiB';
const WAIT_MS = 240_000;
const PEERS = resolve(REPO_ROOT, '..', 'shared', 'bench', 'peers');

let world: EndToEnd;
let stack: Stack;
let client: Client;
let dir: string;
let file: string;

before(async () => {
  world = await startEndToEnd('chunks-pipeline', {
    queueVisibilityTimeoutSeconds: 30,
    // A crashed worker's compute activities are retried once their heartbeat is 5 s late.
    env: { HEARTBEAT_SECONDS: '1', COMPUTE_HEARTBEAT_TIMEOUT_SECONDS: '5', COMPUTE_POLL_SECONDS: '0.2' },
  });
  ({ stack, client, dir } = world);
  file = join(dir, 'transactions.csv');
  await writeTransactions(file, SIZE, 7);
});

after(() => world?.stop());

async function bytesOf(key: string): Promise<Buffer> {
  const res = await stack.aws.s3.send(new GetObjectCommand({ Bucket: stack.outputBucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

async function stagingKeys(): Promise<string[]> {
  const page = await stack.aws.s3.send(
    new ListObjectsV2Command({ Bucket: stack.outputBucket, Prefix: 'staging/' }),
  );
  return (page.Contents ?? []).map((o) => o.Key!);
}

/** A CSV file's report, as the worker writes it. */
type Report = FileReport & Required<Pick<FileReport, 'rows' | 'columns' | 'totals'>> & { workflowId: string };

/**
 * Kills the worker while one chunk of `ref`'s file runs, `times` times in a row on the same chunk (a chunk
 * that finishes before its worker dies was not interrupted: the count then starts over on another chunk).
 */
async function interruptOneChunk(ref: ObjectRef, times: number): Promise<void> {
  const handle = client.workflow.getHandle(workflowIdFor(ref));
  const chunks = client.workflow.getHandle(`${workflowIdFor(ref)}/chunks-1`);
  const pending = async () =>
    (await chunks.describe().catch(() => ({ raw: undefined }))).raw?.pendingActivities ?? [];
  const STARTED = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
  let target: string | undefined;
  for (let interrupted = 0; interrupted < times;) {
    const victim = await eventually(
      `a chunk to run${target ? ` (the same one, interrupted ${interrupted} times)` : ''}`,
      async () => {
        // A chunk's processor run, which heartbeats: the workflow's other activities (completedChunks) do
        // not, and would be retried only once their start-to-close timeout of minutes is up.
        const found = (await pending()).find(
          (a) =>
            a.activityType?.name === 'runProcessor' &&
            a.state === STARTED &&
            (!target || a.activityId === target),
        );
        if (found) return found;
        // The file ended (a chunk failed, and the file with it): the checks below say how. Not started yet
        // (the ingress has not handed it over): wait.
        const status = (await handle.describe().catch(() => undefined))?.status.name;
        return status === undefined || status === 'RUNNING' ? undefined : null;
      },
      WAIT_MS,
    );
    if (victim === null) break;
    await stack.crashWorker();
    // What the chunk looked like last, for the message if it is never retried.
    let last: unknown;
    const retried = await eventually(
      'the interrupted chunk to be retried, or to have finished first',
      async () => {
        const now = (await pending()).find((a) => a.activityId === victim.activityId);
        last = now;
        if (!now) return false;
        return (now.attempt ?? 0) > (victim.attempt ?? 0) ? true : undefined;
      },
      WAIT_MS,
    ).catch((err: Error) => {
      throw new Error(
        `${err.message}; the chunk before the crash: ${JSON.stringify(victim)}; last seen: ${JSON.stringify(last)}`,
      );
    });
    target = retried ? (victim.activityId ?? undefined) : undefined;
    interrupted = retried ? interrupted + 1 : 0;
  }
}

describe('large CSV files in chunks, end to end', () => {
  it('validates a 64 MiB file in 8+ parallel chunks: output and rejects identical to one run, report counts as the peers', async () => {
    const ref: ObjectRef = await uploadFile(stack.aws.s3, stack.inputBucket, 'big/validate.csv', file, {
      job: 'csv-validate',
      metadata: { 'chunk-size': CHUNK_SIZE },
    });
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    const { result } = outcome;
    assert.ok(result.chunks && result.chunks.total >= 8, `chunks: ${JSON.stringify(result.chunks)}`);
    assert.deepEqual(
      { ...result.chunks, total: 0 },
      { total: 0, done: result.chunks.total, reused: 0, failed: 0 },
    );

    const whole = await processWhole([
      '--job',
      'csv-validate',
      file,
      join(dir, 'whole.csv'),
      '--rejects',
      join(dir, 'whole.rejects.csv'),
    ]);
    const output = await bytesOf(result.output!.key);
    assert.ok(
      output.equals(readFileSync(join(dir, 'whole.csv'))),
      'merged output = one run over the whole file',
    );
    const rejects = await bytesOf(`rejects/${result.output!.key}`);
    assert.ok(rejects.equals(readFileSync(join(dir, 'whole.rejects.csv'))), 'merged rejects = one run');

    const head = await stack.aws.s3.send(
      new HeadObjectCommand({ Bucket: stack.outputBucket, Key: result.output!.key }),
    );
    assert.equal(head.Metadata?.[OUTPUT_METADATA.rowsIn], String(whole.rowsIn));
    assert.equal(head.Metadata?.[OUTPUT_METADATA.rowsOut], String(whole.rowsOut));

    const report = JSON.parse(
      (await bytesOf(reportKeyFor(ref.key, result.processedAt!))).toString('utf8'),
    ) as Report;
    assert.equal(report.workflowId, workflowIdFor(ref));
    assert.deepEqual(report.rows, { in: whole.rowsIn, out: whole.rowsOut, rejected: whole.rowsRejected });
    assert.equal(report.rows.in, report.rows.out + report.rows.rejected);
    assert.equal(report.chunks.list.length, result.chunks.total);
    assert.ok(report.chunks.list.every((c) => c.backend === 'local' && typeof c.seconds === 'number'));
    const wholeStats = whole as unknown as Pick<Report, 'columns' | 'totals'>;
    assert.deepEqual(report.columns, wholeStats.columns, 'exact sums, minima and maxima as one run');
    assert.deepEqual(report.totals, wholeStats.totals, 'totals per currency as one run');

    if (existsSync(join(PEERS, 'peer_python_csv.py'))) {
      const peer = spawnSync(
        'python3',
        [
          join(PEERS, 'peer_python_csv.py'),
          'validate',
          file,
          join(dir, 'peer.csv'),
          join(dir, 'peer.rejects.csv'),
        ],
        { encoding: 'utf8' },
      );
      assert.equal(peer.status, 0, peer.stderr);
      assert.match(
        peer.stdout,
        new RegExp(
          `rows_in=${report.rows.in} rows_out=${report.rows.out} rows_rejected=${report.rows.rejected}`,
        ),
      );
    }
    assert.deepEqual(await stagingKeys(), [], 'staging parts are removed after verification');
    await eventually('the queue to be empty', async () =>
      (await queueDepth(stack.aws.sqs, stack.queueUrl)) === 0 ? true : undefined,
    );
  });

  it('survives three worker crashes in one chunk: one run, the same output as one run, each chunk once', async () => {
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'big/transform.csv', file, {
      metadata: { 'chunk-size': CHUNK_SIZE, 'max-concurrency': '2' },
    });
    // What an earlier failed run of this version would have left: the success removes it.
    const failureReport = failureReportKey(ref.key);
    await stack.aws.s3.send(
      new PutObjectCommand({
        Bucket: stack.outputBucket,
        Key: failureReport,
        Body: JSON.stringify({ object: ref, type: 'ProcessorFailed', disposition: 'redelivery' }),
      }),
    );
    const handle = client.workflow.getHandle(workflowIdFor(ref));
    const firstRun = (await eventually('the workflow', () => handle.describe().catch(() => undefined))).runId;
    // Three crashes in a row while the same chunk runs: with one retry budget for everything they would
    // have used up its three attempts.
    await interruptOneChunk(ref, 3);
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    assert.equal(
      (await handle.describe()).runId,
      firstRun,
      'the first run succeeded: nothing was redelivered',
    );
    const { result } = outcome;
    await assert.rejects(
      stack.aws.s3.send(new HeadObjectCommand({ Bucket: stack.outputBucket, Key: failureReport })),
      { name: 'NotFound' },
      'the failure report of the earlier run is gone',
    );
    await processWhole([
      '--job',
      'csv-transform',
      file,
      join(dir, 'whole-transform.csv'),
      '--processed-at',
      result.processedAt!,
    ]);
    const output = await bytesOf(result.output!.key);
    assert.ok(output.equals(readFileSync(join(dir, 'whole-transform.csv'))), 'merged output = one run');
    const report = JSON.parse(
      (await bytesOf(reportKeyFor(ref.key, result.processedAt!))).toString('utf8'),
    ) as Report;
    assert.deepEqual(
      report.chunks.list.map((c) => c.index),
      Array.from({ length: result.chunks!.total }, (_, i) => i),
      'each chunk exactly once',
    );
    assert.deepEqual(await stagingKeys(), []);
  });

  it('loads a chunked CSV into DynamoDB chunk by chunk: each valid row one item, the counts of one run', async () => {
    const rows = join(dir, 'rows.csv');
    await writeTransactions(rows, 256 * 1024, 11);
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'big/rows.csv', rows, {
      job: 'csv-to-dynamodb',
      processorType: 'on-demand',
      metadata: { 'chunk-size': '64KiB' },
    });
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    const report = JSON.parse(
      (await bytesOf(reportKeyFor(ref.key, outcome.result.processedAt!))).toString('utf8'),
    ) as Report;
    assert.ok(report.chunks.total >= 4, `${report.chunks.total} chunks`);
    const whole = await processWhole(['--job', 'csv-validate', rows, join(dir, 'rows-valid.csv')]);
    assert.deepEqual(report.rows, { in: whole.rowsIn, out: whole.rowsOut, rejected: whole.rowsRejected });
    assert.deepEqual(report.dynamodb, {
      table: stack.table,
      itemsWritten: whole.rowsOut,
      itemsRetried: 0,
      itemsRejected: whole.rowsRejected,
    });
    assert.equal(
      await tableItemCount(stack.aws.dynamodb, stack.table),
      whole.rowsOut,
      'one item per valid row, none twice',
    );
  });

  it('runs a large CSV whole in one process when its chunk size allows, its row counts copied into its metadata', async () => {
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'big/whole.csv', file, {
      processorType: 'on-demand',
      metadata: { 'chunk-size': '128MiB' },
    });
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    assert.deepEqual([outcome.result.route, outcome.result.backend], ['ecs', 'local']);
    const head = await stack.aws.s3.send(
      new HeadObjectCommand({ Bucket: stack.outputBucket, Key: outcome.result.output!.key }),
    );
    assert.equal(head.Metadata?.[OUTPUT_METADATA.rowsIn], String(outcome.result.stats?.rowsIn));
    const ofThisFile = stagingPrefixFor({ bucket: ref.bucket, key: ref.key, etag: ref.etag! });
    assert.deepEqual(
      (await stagingKeys()).filter((k) => k.startsWith(ofThisFile) || k.includes(ref.key)),
      [],
      'neither a plan nor the statistics object is left once the report holds them',
    );
  });

  it('chunks a tab-separated file on its tabs: quoted tabs and newlines stay in their field, bare quotes summed over the chunks', async () => {
    const rows = Array.from({ length: 20_000 }, (_, i) => {
      const note =
        i % 7 === 0 ? `"two\tlines\nof ""note"" ${i}"` : i % 5 === 0 ? `12" pipe ${i}` : `plain ${i}`;
      return `${i}\tacct ${i % 97}\t${note}\n`;
    });
    const tsv = join(dir, 'tabs.csv');
    writeFileSync(tsv, `id\taccount\tnote\n${rows.join('')}`);
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'big/tabs.csv', tsv, {
      processorType: 'on-demand',
      metadata: { 'chunk-size': '128KiB', [INPUT_METADATA.csvDelimiter]: 'tab' },
    });
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    const { result } = outcome;
    assert.ok(result.chunks && result.chunks.total >= 4, `chunks: ${JSON.stringify(result.chunks)}`);
    const whole = await processWhole([
      '--job',
      'csv-transform',
      tsv,
      join(dir, 'whole-tabs.csv'),
      '--processed-at',
      result.processedAt!,
      '--delimiter',
      'tab',
    ]);
    const output = await bytesOf(result.output!.key);
    assert.ok(output.equals(readFileSync(join(dir, 'whole-tabs.csv'))), 'merged output = one run');
    assert.ok(output.subarray(0, 40).toString().startsWith('id\taccount\tnote\tprocessed_at\n'));
    const report = JSON.parse(
      (await bytesOf(reportKeyFor(ref.key, result.processedAt!))).toString('utf8'),
    ) as Report;
    assert.equal(report.rows.in, 20_000);
    assert.equal(whole.bareQuoteFields, rows.filter((r) => r.includes('pipe')).length);
    assert.equal(report.bareQuoteFields, whole.bareQuoteFields, "the chunks' counts add up to one run's");
  });

  it('loads a file into DynamoDB because its x-amz-meta-schema names a schema with a table, chunked on that schema’s semicolons', async () => {
    // Quoted merchants hold semicolons and newlines: planned with a comma, a chunk could start inside one.
    const rows = Array.from({ length: 3000 }, (_, i) => {
      const merchant = i % 3 === 0 ? `"Müller;\nSöhne ${i}"` : `Shop ${i}`;
      const date = i % 500 === 7 ? '2025-13-01' : `2025-02-${String((i % 28) + 1).padStart(2, '0')}`;
      return `eu-${i};acct${i % 50};${date};${i}.25;EUR;${merchant};food\n`;
    });
    const invalid = rows.filter((r) => r.includes('2025-13-01')).length;
    const path = join(dir, 'eu.csv');
    writeFileSync(
      path,
      `transaction_id;account_id;transaction_date;amount;currency;merchant;category\n${rows.join('')}`,
    );
    const before = await tableItemCount(stack.aws.dynamodb, stack.table);
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'eu/transactions.csv', path, {
      metadata: { [INPUT_METADATA.schema]: 'transactions-eu', 'chunk-size': '32KiB' },
    });
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    const { result } = outcome;
    assert.equal(result.job, 'csv-to-dynamodb');
    assert.ok(result.chunks && result.chunks.total >= 4, `chunks: ${JSON.stringify(result.chunks)}`);
    const report = JSON.parse(
      (await bytesOf(reportKeyFor(ref.key, result.processedAt!))).toString('utf8'),
    ) as Report & { dynamodb: { itemsWritten: number } };
    assert.deepEqual(report.rows, { in: 3000, out: 3000 - invalid, rejected: invalid });
    assert.equal(report.dynamodb.itemsWritten, 3000 - invalid);
    assert.equal(await tableItemCount(stack.aws.dynamodb, stack.table), before + 3000 - invalid);
  });

  it('retries an inline chunk of a crashed worker on the next worker: the same output as one run', async () => {
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'big/inline.csv', file, {
      processorType: 'inline',
      metadata: { 'chunk-size': CHUNK_SIZE, 'max-concurrency': '2' },
    });
    await interruptOneChunk(ref, 1);
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    assert.equal(outcome.result.route, 'inline');
    await processWhole([
      '--job',
      'csv-transform',
      file,
      join(dir, 'whole-inline.csv'),
      '--processed-at',
      outcome.result.processedAt!,
    ]);
    const output = await bytesOf(outcome.result.output!.key);
    assert.ok(output.equals(readFileSync(join(dir, 'whole-inline.csv'))), 'merged output = one run');
  });
});

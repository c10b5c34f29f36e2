/**
 * The inline backend against moto: the processor on the worker's threads gives what the local backend's
 * child process gives (statistics, output bytes, exit codes and messages), discards its output when
 * aborted, runs no more jobs at once than it has threads, and records its AWS calls as `inline`.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import type { RecordedCall } from '../common/aws';
import { processorEnvironment, type RunProgress, type ProcessorRun } from '../activities/compute';
import { createInlineBackend } from '../activities/inline-backend';
import { createLocalBackend } from '../activities/local-backend';
import type { JobName } from '../contract/jobs';
import { startStack, type Stack } from '../scripts/stack';
import { eventually } from './support/eventually';

const PROCESSED_AT = '2026-01-02T03:04:05.000Z';

let stack: Stack;
/** This file's own call log: the permission proof does not know the `inline` component yet. */
let callLog: string;
const inline = createInlineBackend({ threads: 2 });
const local = createLocalBackend({ mirrors: (run) => ({ jobName: run.jobName }) });
/** Every key of this file is under a prefix of its own, so that test processes may share the buckets. */
const prefix = `inline-${randomUUID()}`;

before(async () => {
  callLog = mkdtempSync(join(tmpdir(), 'inline-calls-'));
  process.env.AWS_CALL_LOG_DIR = callLog;
  stack = await startStack({ processes: false });
});

after(async () => {
  await inline.close();
  await stack?.stop();
  rmSync(callLog, { recursive: true, force: true });
});

/** Uploads `body` as an input; its source version. */
async function upload(name: string, body: string | Buffer) {
  const key = `${prefix}/${name}`;
  const res = await stack.aws.s3.send(
    new PutObjectCommand({ Bucket: stack.inputBucket, Key: key, Body: body }),
  );
  return { bucket: stack.inputBucket, key, etag: res.ETag!.replaceAll('"', '') };
}

/** A run of `job` on `source` into `destinationKey`, recording its heartbeats. */
function runOf(
  job: JobName,
  source: Awaited<ReturnType<typeof upload>>,
  destinationKey: string,
  signal = new AbortController().signal,
): ProcessorRun & { beats: RunProgress[] } {
  const beats: RunProgress[] = [];
  return {
    environment: {
      ...processorEnvironment(
        { route: 'ecs', job, source, destinationKey, processedAt: PROCESSED_AT, timeoutSeconds: 60 },
        { outputBucket: stack.outputBucket, awsRegion: stack.region, awsEndpointUrl: stack.awsEndpoint },
      ),
      LOG_LEVEL: 'warn',
    },
    jobName: `job-${randomUUID()}`,
    startedBy: 'wf-test',
    clientToken: randomUUID(),
    tags: {},
    heartbeat: (progress) => beats.push(progress),
    signal,
    stopRunOnAbort: () => true,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    beats,
  };
}

async function outputBytes(key: string): Promise<Buffer> {
  const res = await stack.aws.s3.send(new GetObjectCommand({ Bucket: stack.outputBucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

async function exists(key: string): Promise<boolean> {
  try {
    await stack.aws.s3.send(new HeadObjectCommand({ Bucket: stack.outputBucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

describe('inline backend', () => {
  it('gives the statistics and output bytes of the local process, and records its calls as inline', async () => {
    const csv = await upload('small.csv', 'id,"name, full"\r\n1,"a ""b"""\r\n2,c\r\n');
    const text = await upload('notes.txt', 'Grüße שלום 😀\nline two\n');
    for (const [job, source] of [
      ['csv-transform', csv],
      ['text-to-pdf', text],
    ] as const) {
      const run = runOf(job, source, `${source.key}.inline`);
      const byThread = await inline.run(run);
      const byProcess = await local.run(runOf(job, source, `${source.key}.local`));
      assert.equal(byThread.succeeded, true, byThread.detail);
      assert.equal(byProcess.succeeded, true, byProcess.detail);
      assert.deepEqual({ ...byThread.report, output: undefined }, { ...byProcess.report, output: undefined });
      assert.equal(byThread.report?.output, `s3://${stack.outputBucket}/${source.key}.inline`);
      const bytes = await outputBytes(`${source.key}.inline`);
      if (job === 'csv-transform') {
        assert.ok(bytes.equals(await outputBytes(`${source.key}.local`)), 'the outputs differ');
      } else {
        // A PDF carries its creation time: the fonts resolved when its statistics match.
        assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-');
      }
      assert.deepEqual(
        { ...byThread, report: undefined, output: { ...byThread.output, etag: undefined } },
        {
          handle: { backend: 'inline', id: run.jobName },
          succeeded: true,
          exitCode: 0,
          detail: '',
          logRef: `inline ${run.jobName}`,
          report: undefined,
          output: {
            key: `${source.key}.inline`,
            size: bytes.length,
            sourceEtag: source.etag,
            etag: undefined,
          },
        },
      );
      // A small CSV output is written once, its row counts in its metadata: no copy changes its ETag.
      assert.ok(byThread.output?.etag, 'the ETag S3 answered the upload with');
      assert.deepEqual(run.beats, [], 'a run shorter than the heartbeat interval sends no heartbeat');
    }
    const calls = readdirSync(callLog).flatMap((file) =>
      readFileSync(join(callLog, file), 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as RecordedCall),
    );
    const components = (key: string) =>
      new Set(calls.filter((c) => String(c.input.Key).startsWith(key)).map((c) => c.component));
    assert.deepEqual(components(`${csv.key}.inline`), new Set(['inline']));
    assert.deepEqual(components(`${csv.key}.local`), new Set(['processor']));
  });

  it('ends a broken CSV with exit code 65 and its message, leaving no output', async () => {
    const source = await upload('broken.csv', `a,b\n${'1,2\n'.repeat(1000)}3,"x"y\n`);
    const outcome = await inline.run(runOf('csv-transform', source, `${source.key}.out`));
    assert.equal(outcome.succeeded, false);
    assert.equal(outcome.exitCode, 65);
    assert.match(
      outcome.detail,
      /broken\.csv: invalid CSV on line 1002: unexpected 'y' after the closing quote/,
    );
    assert.doesNotMatch(outcome.detail, /\n\s+at /, 'an expected failure has no stack');
    assert.equal(outcome.report, undefined);
    assert.equal(outcome.output, undefined);
    assert.equal(await exists(`${source.key}.out`), false);
  });

  it('discards the output of an aborted run, rejects with the reason, and replaces the thread', async () => {
    // Output parts are 8 MiB: the multipart upload exists once the run is well under way.
    const source = await upload(
      'large.csv',
      `id,value\n${'12345678,abcdefghijklmnopqrstuvwxyz\n'.repeat(800_000)}`,
    );
    const key = `${source.key}.out`;
    const abort = new AbortController();
    const running = inline.run(runOf('csv-transform', source, key, abort.signal));
    const uploads = async () =>
      (await stack.aws.s3.send(new ListMultipartUploadsCommand({ Bucket: stack.outputBucket, Prefix: key })))
        .Uploads ?? [];
    await eventually(
      'the output upload',
      async () => ((await uploads()).length > 0 ? true : undefined),
      20_000,
    );
    const reason = new Error('cancelled by the test');
    abort.abort(reason);
    await assert.rejects(running, (err) => err === reason);
    assert.deepEqual(await uploads(), [], 'the multipart upload is aborted');
    assert.equal(await exists(key), false);
    const small = await upload('after-abort.csv', 'a\n1\n');
    const next = await inline.run(runOf('csv-transform', small, `${small.key}.out`));
    assert.equal(next.succeeded, true, next.detail);
  });

  it('runs at most as many jobs at once as it has threads', async () => {
    const pool = createInlineBackend({ threads: 2, heartbeatSeconds: 0.01 });
    try {
      const source = await upload('concurrent.csv', `a,b\n${'1,2\n'.repeat(20_000)}`);
      const latest = new Map<number, string>();
      let most = 0;
      const outcomes = await Promise.all(
        Array.from({ length: 5 }, async (_, i) => {
          const run = runOf('csv-transform', source, `${source.key}.${i}`);
          const beat = run.heartbeat;
          run.heartbeat = (progress) => {
            beat(progress);
            latest.set(i, progress.status);
            most = Math.max(most, [...latest.values()].filter((s) => s === 'RUNNING').length);
          };
          const outcome = await pool.run(run);
          latest.set(i, 'DONE');
          return { outcome, statuses: run.beats.map((b) => b.status) };
        }),
      );
      for (const { outcome } of outcomes) assert.equal(outcome.succeeded, true, outcome.detail);
      assert.ok(most <= 2, `${most} jobs ran at once`);
      assert.ok(
        outcomes.some(({ statuses }) => statuses.includes('RUNNABLE')),
        'some jobs waited for a thread',
      );
    } finally {
      await pool.close();
    }
  });
});

/**
 * `reprocess`: on a dev server whose history limit is lowered by dynamic config, 10,000 objects in pages, each
 * history within the limit (a stand-in processFile); with the real processFile and stubbed activities, bounded
 * concurrency and a cancel that stops new starts. Then on the local stack, through the CLI and the real worker
 * process (whose AWS calls the permission proof evaluates): versions already processed are skipped, `--force`
 * reruns them all.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import type { ComputeRequest } from '../activities/compute';
import { workflowIdFor } from '../common/ids';
import { unquoteEtag, type ObjectRef } from '../contract/objects';
import {
  forcedWorkflowId,
  reprocessProgressQuery,
  reprocessWorkflowId,
  type FileToReprocess,
  type ReprocessInput,
} from '../contract/reprocess';
import { SA } from '../contract/workflow';
import { awaitWorkflow } from '../scripts/pipeline-client';
import { followReprocess, startReprocess } from '../scripts/reprocess';
import { STACK_NAMES } from '../scripts/stack';
import { REPO_ROOT } from '../scripts/tools';
import { reprocess } from '../workflows/reprocess';
import { startEndToEnd, type EndToEnd } from './support/end-to-end';
import { eventually } from './support/eventually';
import { DEFAULT_SCHEMA, stubActivities } from './support/stubs';
import { createTestEnvironment, withWorkers } from './support/temporal';

/** Far below the default 51,200 events: 10,000 children in one history would need about 60,000. */
const HISTORY_LIMIT = 1500;

/**
 * Where the server suggests continuing as new: within a page of 1,000 files, so that a run also leaves part of its
 * page to the next one.
 */
const SUGGEST_CONTINUE_AS_NEW = 800;

/** `count` small text files of `bucket` under day/, as the listing activity names them. */
function listing(bucket: string, count: number) {
  const files: FileToReprocess[] = Array.from({ length: count }, (_, i) => {
    const object = { bucket, key: `day/${String(i).padStart(5, '0')}.txt`, etag: `e${i}`, size: 10 };
    return { object, workflowId: workflowIdFor(object) };
  });
  let pages = 0;
  const listObjectPage: Activities['listObjectPage'] = async ({ pageSize, cursor }) => {
    pages++;
    const from = cursor ? files.findIndex((f) => f.object.key === cursor.keyMarker) + 1 : 0;
    const page = files.slice(from, from + pageSize);
    return from + pageSize < files.length
      ? { files: page, next: { keyMarker: page.at(-1)!.object.key } }
      : { files: page };
  };
  return { files, listObjectPage, pages: () => pages };
}

/** Activities whose processor run takes `jobMs`, counting the runs at once. */
function activities(listObjectPage: Activities['listObjectPage'], jobMs = 0) {
  let inFlight = 0;
  let maxInFlight = 0;
  const ran: string[] = [];
  const stubs: Activities = {
    ...stubActivities({
      bucket: 'in',
      key: 'a.txt',
      size: 10,
      etag: 'e',
      metadata: {},
      schema: DEFAULT_SCHEMA,
    }),
    inspectObject: async ({ bucket, key, etag }) => ({
      bucket,
      key,
      etag: etag!,
      size: 10,
      metadata: {},
      schema: DEFAULT_SCHEMA,
    }),
    listObjectPage,
    runProcessor: async (req: ComputeRequest) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, jobMs));
      inFlight--;
      ran.push(req.source.key);
      return {
        executor: 'stub',
        jobId: 'job',
        awsRequest: {},
        destination: { bucket: 'out', key: req.destinationKey },
        stats: {},
      };
    },
  };
  return { stubs, ran, maxInFlight: () => maxInFlight };
}

describe('reprocess on stubbed activities', () => {
  let env: TestWorkflowEnvironment;
  before(async () => {
    env = await createTestEnvironment({
      'limit.historyCount.error': HISTORY_LIMIT,
      'limit.historyCount.warn': HISTORY_LIMIT - 100,
      'limit.historyCount.suggestContinueAsNew': SUGGEST_CONTINUE_AS_NEW,
    });
  });
  after(async () => {
    await env?.teardown();
  });

  const start = (taskQueue: string, bucket: string, input: Omit<ReprocessInput, 'bucket' | 'prefix'>) =>
    env.client.workflow.start(reprocess, {
      workflowId: reprocessWorkflowId(bucket, 'day/', new Date(), input.force),
      taskQueue,
      args: [{ bucket, prefix: 'day/', ...input }],
    });

  /** Event counts of every run of a workflow (one per continue-as-new). */
  async function runLengths(workflowId: string): Promise<number[]> {
    const lengths: number[] = [];
    for await (const run of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      const history = await env.client.workflow.getHandle(workflowId, run.runId).fetchHistory();
      lengths.push(history.events?.length ?? 0);
    }
    return lengths;
  }

  // About three minutes on two cores: the dev server starts some 50 workflows a second.
  it(
    'starts and counts 10,000 objects, each history within a lowered limit, continuing as new per page and when suggested',
    { timeout: 15 * 60_000 },
    async () => {
      const l = listing('ten-thousand', 10_000);
      const taskQueue = `test-${randomUUID()}`;
      const worker = await Worker.create({
        connection: env.nativeConnection,
        taskQueue,
        workflowsPath: require.resolve('./support/reprocess-stand-in'),
        activities: { listObjectPage: l.listObjectPage },
      });
      await worker.runUntil(async () => {
        const handle = await start(taskQueue, 'ten-thousand', { pageSize: 1000, concurrency: 100 });
        const result = await handle.result();
        assert.deepEqual(
          { ...result },
          {
            stage: 'done',
            bucket: 'ten-thousand',
            prefix: 'day/',
            force: false,
            listed: 10_000,
            started: 10_000,
            skipped: 0,
            succeeded: 10_000,
            failed: 0,
            inFlight: 0,
            listingDone: true,
            cancelled: false,
          },
        );
        assert.equal(l.pages(), 10);
        const lengths = await runLengths(handle.workflowId);
        assert.ok(lengths.length >= 20, `${lengths.length} runs: each page's left to a second run at least`);
        assert.ok(Math.max(...lengths) < HISTORY_LIMIT, `runs of ${lengths.join(', ')} events`);
        const attributes = (await handle.describe()).typedSearchAttributes;
        assert.equal(attributes.get(SA.stage), 'done');
        assert.equal(attributes.get(SA.itemsTotal), 10_000);
        assert.equal(attributes.get(SA.itemsStarted), 10_000);
        assert.equal(attributes.get(SA.itemsSkipped), 0);
        assert.equal(attributes.get(SA.itemsDone), 10_000);
        assert.equal(attributes.get(SA.itemsFailed), 0);
        // Every object has its processFile run, under the notification path's ID.
        await eventually('10,000 runs in visibility', async () => {
          const { count } = await env.client.workflow.count(
            `WorkflowType = 'processFile' AND ${SA.bucket.name} = 'ten-thousand' AND ExecutionStatus = 'Completed'`,
          );
          return count === 10_000 ? true : undefined;
        });
        const last = await env.client.workflow.getHandle(l.files.at(-1)!.workflowId).describe();
        assert.equal(last.status.name, 'COMPLETED');
      });
    },
  );

  it('runs at most `concurrency` files at a time, through the real processFile', async () => {
    const l = listing('concurrent', 30);
    const a = activities(l.listObjectPage, 300);
    const taskQueue = `test-${randomUUID()}`;
    await withWorkers(env.nativeConnection, taskQueue, a.stubs, async () => {
      const result = await (await start(taskQueue, 'concurrent', { pageSize: 7, concurrency: 4 })).result();
      assert.equal(result.succeeded, 30);
      assert.equal(new Set(a.ran).size, 30, 'every object ran once');
      assert.equal(a.maxInFlight(), 4);
    });
  });

  it('stops starting files once cancelled, leaving the started runs to finish', async () => {
    const l = listing('cancelled', 50);
    const a = activities(l.listObjectPage, 1500);
    const taskQueue = `test-${randomUUID()}`;
    await withWorkers(env.nativeConnection, taskQueue, a.stubs, async () => {
      const handle = await start(taskQueue, 'cancelled', { pageSize: 50, concurrency: 3 });
      await eventually('three runs started', async () => {
        return (await handle.query(reprocessProgressQuery)).started === 3 ? true : undefined;
      });
      await handle.cancel();
      const error = await handle.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      assert.ok(
        error instanceof WorkflowFailedError && error.cause instanceof CancelledFailure,
        String(error),
      );
      const progress = await handle.query(reprocessProgressQuery);
      assert.equal(progress.cancelled, true);
      assert.equal(progress.stage, 'cancelled');
      assert.equal(progress.started, 3);
      assert.equal(progress.inFlight, 3);
      assert.equal((await handle.describe()).typedSearchAttributes.get(SA.stage), 'cancelled');
      // The three abandoned runs finish; no other file was started.
      for (const file of l.files.slice(0, 3)) {
        const run = env.client.workflow.getHandle(file.workflowId);
        await eventually(`${file.workflowId} completed`, async () =>
          (await run.describe()).status.name === 'COMPLETED' ? true : undefined,
        );
      }
      assert.equal(a.ran.length, 3);
      await assert.rejects(env.client.workflow.getHandle(l.files[3]!.workflowId).describe());
    });
  });
});

/**
 * A versioned input bucket, as the deployed one is, without notifications: the test notifies the files it wants
 * processed first itself, with their versionIds, through the queue and the ingress.
 */
const BUCKET = 'pipeline-reprocess';
const DAY = '2026-01-15';
const WAIT_MS = 120_000;

describe('reprocess on the local stack, through the worker process', () => {
  let world: EndToEnd;
  before(async () => {
    world = await startEndToEnd('reprocess-test', {
      env: { INPUT_BUCKETS: [STACK_NAMES.inputBucket, BUCKET].join(',') },
    });
    const { s3 } = world.stack.aws;
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
    );
  });
  after(() => world?.stop());

  async function put(key: string, body: string): Promise<ObjectRef> {
    const out = await world.stack.aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    return {
      bucket: BUCKET,
      key,
      etag: unquoteEtag(out.ETag!),
      versionId: out.VersionId!,
      size: body.length,
    };
  }

  /** The CLI as a process, against the stack; its exit code and output. */
  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/reprocess.ts', ...args], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: world.stack.temporalAddress,
        TEMPORAL_NAMESPACE: world.stack.namespace,
        TEMPORAL_TASK_QUEUE: world.stack.taskQueue,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  it('reprocessing a date of 50 objects, 20 of them processed, starts 30 and skips 20; --force reruns all 50', async () => {
    const { client, stack } = world;
    const prefix = `raw-data/${DAY}/`;
    const files: ObjectRef[] = [];
    // The first key has an older version (not listed: only the latest is), and beside the day are a deleted
    // key (a delete marker, not listed) and the next day's object (another prefix).
    await put(`${prefix}f-00.csv`, 'id,n\nold,0\n');
    for (let i = 0; i < 50; i++)
      files.push(await put(`${prefix}f-${String(i).padStart(2, '0')}.csv`, `id,n\n${i},${i}\n`));
    await put(`${prefix}gone.csv`, 'id\n1\n');
    await stack.aws.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefix}gone.csv` }));
    await put(`raw-data/2026-01-16/f-00.csv`, 'id\n1\n');

    // Twenty processed through the notification path.
    const processed = files.slice(0, 20);
    for (const ref of processed)
      await stack.aws.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.queueUrl,
          MessageBody: JSON.stringify({
            Records: [
              {
                eventVersion: '2.1',
                eventSource: 'aws:s3',
                eventName: 'ObjectCreated:Put',
                s3: {
                  bucket: { name: BUCKET },
                  object: { key: ref.key, size: ref.size, eTag: ref.etag, versionId: ref.versionId },
                },
              },
            ],
          }),
        }),
      );
    const firstRuns = new Map<string, string>();
    for (const ref of processed) {
      const outcome = await awaitWorkflow(client, ref, WAIT_MS);
      assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
      firstRuns.set(
        workflowIdFor(ref),
        (await client.workflow.getHandle(workflowIdFor(ref)).describe()).runId,
      );
    }

    const run = await cli(['--date', DAY, '--bucket', BUCKET]);
    assert.equal(run.code, 0, run.stderr);
    const id = /^workflow: (.+)$/m.exec(run.stdout)?.[1];
    assert.ok(id, run.stdout);
    assert.match(
      run.stdout,
      /^done: 50 listed, 30 started, 20 skipped \(already processed or running\), 30 succeeded, 0 failed, 0 in flight$/m,
    );
    const handle = client.workflow.getHandle<typeof reprocess>(id);
    const progress = await handle.query(reprocessProgressQuery);
    assert.deepEqual(
      { ...progress },
      {
        stage: 'done',
        bucket: BUCKET,
        prefix,
        force: false,
        listed: 50,
        started: 30,
        skipped: 20,
        succeeded: 30,
        failed: 0,
        inFlight: 0,
        listingDone: true,
        cancelled: false,
      },
    );
    const attributes = (await handle.describe()).typedSearchAttributes;
    assert.deepEqual(
      [SA.stage, SA.itemsTotal, SA.itemsStarted, SA.itemsSkipped, SA.itemsDone, SA.itemsFailed].map((k) =>
        attributes.get(k),
      ),
      ['done', 50, 30, 20, 30, 0],
    );
    // The twenty kept their only run; the thirty have one each now, under the notification path's IDs.
    for (const ref of files) {
      const description = await client.workflow.getHandle(workflowIdFor(ref)).describe();
      assert.equal(description.status.name, 'COMPLETED', ref.key);
      const first = firstRuns.get(workflowIdFor(ref));
      if (first) assert.equal(description.runId, first, `${ref.key} was not run again`);
    }

    const forced = await startReprocess(client, stack.taskQueue, { bucket: BUCKET, prefix, force: true });
    const final = await followReprocess(forced, () => {});
    assert.deepEqual(
      [final.listed, final.started, final.skipped, final.succeeded, final.failed],
      [50, 50, 0, 50, 0],
    );
    for (const ref of files) {
      const description = await client.workflow
        .getHandle(forcedWorkflowId(forced.workflowId, workflowIdFor(ref)))
        .describe();
      assert.equal(description.status.name, 'COMPLETED', ref.key);
      assert.equal(description.type, 'processFile');
    }
  });

  it('skips what the notifications processed in an unversioned bucket too, where the ETag names the version', async () => {
    const { client, stack } = world;
    const refs: ObjectRef[] = [];
    for (let i = 0; i < 3; i++) {
      const key = `unversioned/f-${i}.csv`;
      const body = `id\n${i}\n`;
      const out = await stack.aws.s3.send(
        new PutObjectCommand({ Bucket: stack.inputBucket, Key: key, Body: body }),
      );
      refs.push({ bucket: stack.inputBucket, key, etag: unquoteEtag(out.ETag!), size: body.length });
    }
    // The input bucket notifies the queue itself.
    for (const ref of refs) assert.equal((await awaitWorkflow(client, ref, WAIT_MS)).status, 'completed');
    const handle = await startReprocess(client, stack.taskQueue, {
      bucket: stack.inputBucket,
      prefix: 'unversioned/',
    });
    const final = await followReprocess(handle, () => {});
    assert.deepEqual([final.listed, final.started, final.skipped], [3, 0, 3]);
  });

  it('names the fix of bad arguments and of a missing bucket', async () => {
    const both = await cli(['--date', DAY, '--prefix', 'x/', '--bucket', BUCKET]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /give either --prefix or --date/);
    const date = await cli(['--date', '2026-02-30', '--bucket', BUCKET]);
    assert.match(date.stderr, /--date 2026-02-30 is not a calendar date: write it YYYY-MM-DD/);
    // An input bucket of the configuration that does not exist: the run fails at once, naming it.
    const missing = await cli(['--prefix', 'x/', '--bucket', 'pipeline-deleted']);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /bucket pipeline-deleted does not exist, so s3:\/\/pipeline-deleted\/x\/ cannot be reprocessed: name an input bucket \(--bucket\)/,
    );
  });
});

/**
 * `reprocess` on a dev server whose history limit is lowered by dynamic config: 10,000 objects in pages, each
 * history within the limit (a stand-in processFile); with the real processFile and stubbed activities, bounded
 * concurrency and a cancel that stops new starts. test/reprocess.test.ts runs it on the local stack.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { Activities } from '../activities';
import type { ComputeRequest } from '../activities/compute';
import { workflowIdFor } from '../common/ids';
import {
  reprocessProgressQuery,
  reprocessWorkflowId,
  type FileToReprocess,
  type ReprocessInput,
} from '../contract/reprocess';
import { SA } from '../contract/workflow';
import { reprocess } from '../workflows/reprocess';
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
        backend: 'stub',
        runId: 'job',
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

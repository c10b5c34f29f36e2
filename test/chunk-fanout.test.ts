/**
 * The chunk fan-out of `processFile` on a real Temporal dev server whose history limit is lowered by dynamic
 * config, with stubbed activities: histories stay bounded by the batch size (child workflows), not by the
 * number of chunks; concurrency is bounded; tolerated failures; chunks an earlier run finished are reused.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../activities';
import { summarize } from '../activities/staging';
import type { ComputeRequest } from '../activities/compute';
import type { ObjectInfo } from '../activities/objects';
import {
  messageReceivedSignal,
  SA,
  type ProcessFileOptions,
  type ProcessFileResult,
} from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { processFile } from '../workflows/process-file';
import { DEFAULT_SCHEMA, stubActivities } from './support/stubs';
import { createTestEnvironment, withWorkers } from './support/temporal';

/** Far below the default 51,200 events: 1,000 chunks in one history would need about 6,000. */
const HISTORY_LIMIT = 1500;

let env: TestWorkflowEnvironment;
before(async () => {
  env = await createTestEnvironment({
    'limit.historyCount.error': HISTORY_LIMIT,
    'limit.historyCount.warn': HISTORY_LIMIT - 100,
  });
});
after(async () => {
  await env?.teardown();
});

const CHUNK = 2048;

/**
 * Activities for a CSV file of `chunks` chunks of CHUNK bytes; `fail(index)` makes a chunk's job fail,
 * `reused` are the chunks an earlier run finished, each job takes `jobMs`.
 */
function chunked(
  chunks: number,
  metadata: Record<string, string> = {},
  fail: (index: number) => ApplicationFailure | undefined = () => undefined,
  reused: number[] = [],
  jobMs = 5,
) {
  const ran: number[] = [];
  const merged: { kind: string; indices: number[] }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  let stagingDeleted = false;
  const info: ObjectInfo = {
    bucket: 'in',
    key: 'big.csv',
    size: chunks * CHUNK,
    etag: 'e1',
    metadata: { 'chunk-size': String(CHUNK), ...metadata },
    schema: DEFAULT_SCHEMA,
  };
  const activities: Activities = {
    ...stubActivities(info),
    planRun: async ({ processedAt }) => ({
      stagingPrefix: 'staging/big/',
      processedAt,
      chunkSize: CHUNK,
      header: 'a,b',
      rows: chunks,
      chunks: Array.from({ length: chunks }, (_, i) => ({
        start: i * CHUNK,
        end: (i + 1) * CHUNK,
        firstRow: i + 1,
        firstLine: i + 2,
      })),
    }),
    completedChunks: async ({ chunks: asked }) => asked.map((c) => c.index).filter((i) => reused.includes(i)),
    summarizeChunks: async ({ indices }) =>
      summarize(indices.map(() => ({ rowsIn: 1, rowsOut: 1, rowsRejected: 0 }))),
    mergeParts: async ({ kind, indices, destinationKey }) => {
      merged.push({ kind, indices });
      return { key: destinationKey, size: indices.length, parts: indices.length };
    },
    deleteStaging: async () => {
      stagingDeleted = true;
      return 0;
    },
    runProcessor: async (req: ComputeRequest) => {
      const index = req.chunk!.index;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, jobMs));
      inFlight--;
      const failure = fail(index);
      if (failure) throw failure;
      ran.push(index);
      return {
        backend: 'stub',
        runId: `job-${index}`,
        awsRequest: {},
        destination: { bucket: 'out', key: req.destinationKey },
        stats: {},
      };
    },
  };
  return {
    activities,
    ran,
    merged,
    maxInFlight: () => maxInFlight,
    stagingDeleted: () => stagingDeleted,
  };
}

async function run(activities: Activities, options: ProcessFileOptions = {}) {
  const taskQueue = `test-${randomUUID()}`;
  const workflowId = `wf-${randomUUID()}`;
  return withWorkers(env.nativeConnection, taskQueue, activities, async () => {
    const handle = await env.client.workflow.signalWithStart(processFile, {
      workflowId,
      taskQueue,
      args: [
        {
          object: { bucket: 'in', key: 'big.csv', etag: 'e1' },
          options: { computeRetry: { maximumAttempts: 1, initialIntervalSeconds: 0.1 }, ...options },
        },
      ],
      signal: messageReceivedSignal,
      signalArgs: [{ queueUrl: 'q', messageId: 'm', receiptHandle: 'r', receiveCount: 1, body: '{}' }],
    });
    let result: ProcessFileResult | undefined;
    let error: WorkflowFailedError | undefined;
    try {
      result = await handle.result();
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      error = err;
    }
    return { result, error, workflowId, handle };
  });
}

/** Event counts of the workflow and of each of its child workflows. */
async function historyLengths(workflowId: string): Promise<{ parent: number; children: number[] }> {
  const length = async (id: string) =>
    (await env.client.workflow.getHandle(id).fetchHistory()).events?.length ?? 0;
  const children: number[] = [];
  for (let batch = 1; ; batch++) {
    try {
      children.push(await length(`${workflowId}/chunks-${batch}`));
    } catch {
      break;
    }
  }
  return { parent: await length(workflowId), children };
}

const permanent = (index: number) =>
  ApplicationFailure.create({
    message: `chunk ${index}: bad row`,
    type: FailureType.invalidInput,
    nonRetryable: true,
  });

describe('chunk fan-out', () => {
  it('keeps every history within a lowered limit for 1,000 chunks, in batches of child workflows', async () => {
    const s = chunked(1000);
    const { result, workflowId, handle } = await run(s.activities, { chunksPerChildWorkflow: 100 });
    assert.equal(result?.status, 'processed');
    assert.deepEqual(result?.chunks, { total: 1000, done: 1000, reused: 0, failed: 0 });
    assert.equal(s.ran.length, 1000, 'every chunk ran once');
    assert.deepEqual(
      s.merged.at(-1)?.indices,
      Array.from({ length: 1000 }, (_, i) => i),
    );
    const { parent, children } = await historyLengths(workflowId);
    assert.equal(children.length, 10);
    for (const events of [parent, ...children]) assert.ok(events < HISTORY_LIMIT, `${events} events`);
    // About ten progress signals per batch, a few events each: the parent grows with the batches, not the chunks.
    assert.ok(parent < 10 * 80, `${parent} events in the parent`);
    const attributes = (await handle.describe()).typedSearchAttributes;
    assert.equal(attributes.get(SA.itemsTotal), 1000);
    assert.equal(attributes.get(SA.itemsDone), 1000);
    assert.equal(attributes.get(SA.itemsFailed), 0);
  });

  it('fails when one child workflow holds all 1,000 chunks (the limit is real)', async () => {
    const s = chunked(1000);
    const { error } = await run(s.activities, { chunksPerChildWorkflow: 1000 });
    assert.ok(error, 'the oversized child workflow hits the history limit');
    assert.ok(s.ran.length < 1000);
  });

  it('runs at most max-concurrency chunks at a time', async () => {
    // Jobs long enough that three overlap even on a loaded machine.
    const s = chunked(24, { 'max-concurrency': '3' }, undefined, [], 300);
    const { result } = await run(s.activities);
    assert.equal(result?.chunks?.done, 24);
    assert.equal(s.maxInFlight(), 3);
  });

  it('tolerates failed chunks up to tolerated-failure-count, merges the others and keeps staging for a redrive', async () => {
    const s = chunked(10, { 'tolerated-failure-count': '2' }, (i) =>
      i === 3 || i === 7 ? permanent(i) : undefined,
    );
    const { result } = await run(s.activities);
    assert.equal(result?.status, 'processed');
    assert.deepEqual(result?.chunks, { total: 10, done: 8, reused: 0, failed: 2 });
    assert.deepEqual(s.merged.at(-1)?.indices, [0, 1, 2, 4, 5, 6, 8, 9]);
    assert.equal(s.stagingDeleted(), false);
  });

  it('fails the file once more chunks fail than tolerated (percent), naming a failed chunk and the redrive', async () => {
    const s = chunked(10, { 'tolerated-failure-percent': '10' }, (i) =>
      i === 3 || i === 7 ? permanent(i) : undefined,
    );
    const { error, workflowId } = await run(s.activities);
    const cause = error?.cause;
    assert.ok(cause instanceof ApplicationFailure);
    assert.equal(cause.type, FailureType.chunksFailed);
    assert.match(cause.message, /2 of 10 chunks failed, 1 tolerated; chunk 4 \(bytes 6144-8191\): .*bad row/);
    assert.ok(cause.message.includes(`npm run redrive -- '${workflowId}'`));
    assert.equal(s.merged.length, 0, 'nothing is merged');
  });

  it('reruns only the chunks an earlier run did not finish', async () => {
    const s = chunked(6, {}, undefined, [0, 2, 5]);
    const { result } = await run(s.activities);
    assert.deepEqual(result?.chunks, { total: 6, done: 3, reused: 3, failed: 0 });
    assert.deepEqual(s.ran.sort(), [1, 3, 4]);
    assert.deepEqual(s.merged.at(-1)?.indices, [0, 1, 2, 3, 4, 5]);
  });

  it('rejects an invalid chunk-size with the metadata key and the expected form', async () => {
    const s = chunked(4, { 'chunk-size': 'big' });
    const { error } = await run(s.activities);
    assert.ok(error?.cause instanceof ApplicationFailure);
    assert.match(error.cause.message, /x-amz-meta-chunk-size is "big", expected a size of at least 1 KiB/);
  });
});

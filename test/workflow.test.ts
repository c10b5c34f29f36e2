/**
 * The `processFile` workflow on a real Temporal dev server with stubbed activities: routing, retries,
 * the dead-letter path, and acknowledgement only after the output check with the latest receipt handle.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Activities } from '../activities';
import type { ComputeRequest, ComputeResult } from '../activities/compute';
import { createFinishActivities } from '../activities/finish';
import { summarize } from '../activities/staging';
import type { DeadLetterReason } from '../common/dead-letters';
import type { ObjectInfo } from '../activities/objects';
import type { FailureReport } from '../contract/reports';
import {
  messageReceivedSignal,
  progressQuery,
  SA,
  type ProcessFileOptions,
  type ProcessFileResult,
  type QueueMessage,
} from '../contract/workflow';
import { FailureType } from '../contract/failures';
import type { ObjectRef } from '../contract/objects';
import { processFile } from '../workflows/process-file';
import { createTestEnvironment, withWorkers } from './support/temporal';
import { eventually } from './support/eventually';
import { DEFAULT_SCHEMA, stubActivities } from './support/stubs';

let env: TestWorkflowEnvironment;
before(async () => {
  env = await createTestEnvironment();
});
after(async () => {
  await env?.teardown();
});

const OBJECT: ObjectRef = { bucket: 'in', key: 'data/report.csv', etag: 'abc123' };

function message(overrides: Partial<QueueMessage> = {}): QueueMessage {
  return {
    queueUrl: 'http://sqs.local/queue',
    messageId: 'm-1',
    receiptHandle: 'handle-1',
    receiveCount: 1,
    body: '{"Records":[]}',
    ...overrides,
  };
}

/** A successful run on the requested route, as in aws mode (the backend that ran it is the route's). */
function computed(req: ComputeRequest): ComputeResult {
  return {
    backend: req.route,
    runId: 'job-1',
    awsRequest: { route: req.route },
    destination: { bucket: 'out', key: req.destinationKey },
    stats: { rowsIn: 1 },
    summary: summarize([{ rowsIn: 1, rowsOut: 1, rowsRejected: 0 }]),
  };
}

/** Stub activities recording what the workflow asked for; each test overrides what it needs. */
function stubs(metadata: Record<string, string>, overrides: Partial<Activities> = {}) {
  const calls: { name: string; args: unknown[] }[] = [];
  const record =
    <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      calls.push({ name, args });
      return fn(...args);
    };
  const info: ObjectInfo = {
    bucket: OBJECT.bucket,
    key: OBJECT.key,
    size: 42,
    etag: OBJECT.etag!,
    metadata,
    schema: DEFAULT_SCHEMA,
  };
  const base: Activities = {
    ...stubActivities(info),
    runProcessor: async (req: ComputeRequest) => computed(req),
  };
  const merged: Activities = { ...base, ...overrides };
  // The real finishing steps over the stubs, so that the calls they make are recorded in order.
  merged.finishFile = (input) =>
    createFinishActivities({
      outputBucket: 'out',
      bucket: { deleteKeys: async () => {} },
      objects: activities,
      reports: activities,
      queue: activities,
    }).finishFile(input);
  const activities = Object.fromEntries(
    Object.entries(merged).map(([name, fn]) => [
      name,
      record(name, fn as (...a: unknown[]) => Promise<unknown>),
    ]),
  ) as unknown as Activities;
  const named = (name: keyof Activities) => calls.filter((c) => c.name === name);
  return { activities, calls, named };
}

async function run(
  activities: Activities,
  options: {
    first?: QueueMessage;
    during?: (workflowId: string) => Promise<void>;
    workflowOptions?: ProcessFileOptions;
  } = {},
): Promise<{ result?: ProcessFileResult; error?: WorkflowFailedError; workflowId: string }> {
  const taskQueue = `test-${randomUUID()}`;
  const workflowId = `wf-${randomUUID()}`;
  return withWorkers(env.nativeConnection, taskQueue, activities, async () => {
    const handle = await env.client.workflow.signalWithStart(processFile, {
      workflowId,
      taskQueue,
      args: [
        {
          object: OBJECT,
          options: {
            computeRetry: { maximumAttempts: 3, initialIntervalSeconds: 0.1 },
            ...options.workflowOptions,
          },
        },
      ],
      signal: messageReceivedSignal,
      signalArgs: [options.first ?? message()],
    });
    await options.during?.(workflowId);
    try {
      return { result: await handle.result(), workflowId };
    } catch (err) {
      if (err instanceof WorkflowFailedError) return { error: err, workflowId };
      throw err;
    }
  });
}

async function searchAttributes(workflowId: string) {
  const { typedSearchAttributes } = await env.client.workflow.getHandle(workflowId).describe();
  return {
    processorType: typedSearchAttributes.get(SA.processorType),
    route: typedSearchAttributes.get(SA.route),
    backend: typedSearchAttributes.get(SA.backend),
    job: typedSearchAttributes.get(SA.job),
    stage: typedSearchAttributes.get(SA.stage),
  };
}

describe('processFile workflow', () => {
  it('routes a processor-type=pool file to Batch and records it in search attributes', async () => {
    const s = stubs({ 'processor-type': 'pool' });
    const { result, workflowId } = await run(s.activities);
    assert.equal(result?.status, 'processed');
    assert.equal(result?.route, 'batch');
    assert.equal((s.named('runProcessor')[0]?.args[0] as ComputeRequest).route, 'batch');
    assert.deepEqual(await searchAttributes(workflowId), {
      processorType: 'pool',
      route: 'batch',
      backend: 'batch',
      job: 'csv-transform',
      stage: 'done',
    });
  });

  it('routes a small file without processor-type inline, with the job from its extension', async () => {
    const s = stubs({});
    const { result, workflowId } = await run(s.activities);
    assert.equal(result?.route, 'inline');
    const req = s.named('runProcessor')[0]?.args[0] as ComputeRequest;
    assert.equal(req.job, 'csv-transform');
    assert.equal(req.destinationKey, 'outputs/data/report.csv');
    assert.equal(req.statsKey, undefined, 'an inline run hands its statistics back itself');
    const attributes = await searchAttributes(workflowId);
    assert.deepEqual([attributes.route, attributes.backend], ['inline', 'inline']);
  });

  it('routes a file without processor-type larger than INLINE_MAX_BYTES, or with another type, to ECS', async () => {
    for (const [metadata, inlineMaxBytes] of [
      [{}, 41],
      [{}, 0],
      [{ 'processor-type': 'on-demand' }, 1000],
    ] as const) {
      const s = stubs(metadata);
      const { result } = await run(s.activities, { workflowOptions: { inlineMaxBytes } });
      assert.equal(result?.route, 'ecs', JSON.stringify([metadata, inlineMaxBytes]));
    }
    const s = stubs({ 'processor-type': 'inline' });
    const { result } = await run(s.activities, { workflowOptions: { inlineMaxBytes: 0 } });
    assert.equal(result?.route, 'inline', 'an explicit inline type wins over INLINE_MAX_BYTES=0');
  });

  it('lets job metadata override the extension rule', async () => {
    const s = stubs({ job: 'text-to-pdf' });
    const { result } = await run(s.activities);
    assert.equal(result?.job, 'text-to-pdf');
    assert.equal(
      (s.named('runProcessor')[0]?.args[0] as ComputeRequest).destinationKey,
      'outputs/data/report.csv.pdf',
    );
  });

  it('retries a failed processor run up to its attempts, and interruptions in between do not count', async () => {
    const failed = () =>
      ApplicationFailure.create({ message: 'exit code 1', type: FailureType.processorFailed });
    // Interrupted attempts (a worker crash, an AWS call that failed) and failed runs, in this order.
    const script = [
      new Error('worker lost'),
      failed(),
      new Error('worker lost'),
      new Error('worker lost'),
      failed(),
    ];
    const s = stubs(
      {},
      {
        runProcessor: async (req: ComputeRequest) => {
          const next = script.shift();
          if (next) throw next;
          return computed(req);
        },
      },
    );
    const { result } = await run(s.activities);
    assert.equal(result?.status, 'processed');
    assert.equal(s.named('runProcessor').length, 6, 'three interrupted attempts and three runs');
    assert.equal(s.named('acknowledge').length, 1);
    assert.equal(s.named('release').length + s.named('moveToDeadLetter').length, 0);
  });

  it('moves the message to the dead-letter queue with the reason on a permanent failure, and never acknowledges', async () => {
    const s = stubs(
      {},
      {
        runProcessor: () =>
          Promise.reject(
            ApplicationFailure.create({
              message: 'line 3: unterminated quoted field',
              type: FailureType.invalidInput,
              nonRetryable: true,
            }),
          ),
      },
    );
    const { error } = await run(s.activities);
    assert.ok(error, 'the workflow fails');
    assert.equal((error.cause as ApplicationFailure).type, FailureType.invalidInput);
    assert.equal(s.named('runProcessor').length, 1, 'a permanent failure is not retried');
    const [dlq] = s.named('moveToDeadLetter');
    const [messages, reason] = dlq!.args as [QueueMessage[], DeadLetterReason];
    assert.deepEqual(
      messages.map((m) => m.receiptHandle),
      ['handle-1'],
    );
    assert.equal(reason.type, FailureType.invalidInput);
    assert.match(reason.message, /unterminated quoted field/);
    assert.equal(s.named('acknowledge').length, 0);
    const [report] = s.named('writeFailureReport').map((c) => c.args[0] as FailureReport);
    assert.equal(report?.disposition, 'dead-letter');
    assert.equal(report?.type, FailureType.invalidInput);
  });

  it('fails an unknown job permanently, naming the known jobs', async () => {
    const s = stubs({ job: 'resize-image' });
    const { error } = await run(s.activities);
    const reason = s.named('moveToDeadLetter')[0]?.args[1] as DeadLetterReason;
    assert.equal(reason.type, FailureType.unknownJob);
    assert.match(reason.message, /unknown job "resize-image".*csv-transform, text-to-pdf/);
    assert.equal(s.named('runProcessor').length, 0);
    assert.ok(error);
  });

  it('acknowledges only after the output check passed', async () => {
    let checks = 0;
    const s = stubs(
      {},
      {
        verifyOutput: async ({ key }) => {
          checks += 1;
          if (checks === 1) throw new Error('output not visible yet');
          return { bucket: 'out', key, size: 10 };
        },
      },
    );
    const { result } = await run(s.activities);
    assert.equal(result?.status, 'processed');
    const order = s.calls.map((c) => c.name).filter((n) => n !== 'extendVisibility');
    assert.deepEqual(order, [
      'inspectObject',
      'runProcessor',
      'finishFile',
      'verifyOutput',
      'finishFile',
      'verifyOutput',
      'writeReport',
      'acknowledge',
    ]);
  });

  it('does not acknowledge when the output fails its check, and releases or dead-letters instead', async () => {
    const s = stubs(
      {},
      {
        verifyOutput: () =>
          Promise.reject(
            ApplicationFailure.create({
              message: 'output is empty',
              type: FailureType.outputInvalid,
              nonRetryable: true,
            }),
          ),
      },
    );
    const { error } = await run(s.activities);
    assert.ok(error);
    assert.equal(s.named('acknowledge').length, 0);
    assert.equal(s.named('moveToDeadLetter').length, 1);
  });

  it('releases the message for redelivery when a transient failure outlives its retries', async () => {
    const s = stubs(
      {},
      {
        runProcessor: () =>
          Promise.reject(
            ApplicationFailure.create({ message: 'host terminated', type: FailureType.processorFailed }),
          ),
      },
    );
    const { error } = await run(s.activities);
    assert.ok(error);
    assert.equal(s.named('runProcessor').length, 3);
    const [messages, reason] = s.named('release')[0]!.args as [QueueMessage[], DeadLetterReason];
    assert.equal(messages[0]?.receiptHandle, 'handle-1');
    assert.match(reason.message, /host terminated/);
    assert.equal(s.named('acknowledge').length + s.named('moveToDeadLetter').length, 0);
  });

  it('acknowledges with the newest receipt handle it was signalled, and every duplicate notification', async () => {
    let workflowId = '';
    const s = stubs(
      {},
      {
        runProcessor: async (req: ComputeRequest) => {
          const handle = env.client.workflow.getHandle(workflowId);
          assert.equal((await handle.query(progressQuery)).stage, 'processing');
          // The message was redelivered (new receipt handle) and a duplicate notification arrived.
          await handle.signal(messageReceivedSignal, message({ receiptHandle: 'handle-2', receiveCount: 2 }));
          await handle.signal(messageReceivedSignal, message({ messageId: 'm-2', receiptHandle: 'dup-1' }));
          await eventually(
            'both signals taken',
            async () => ((await handle.query(progressQuery)).messages === 2 ? true : undefined),
            10_000,
          );
          return computed(req);
        },
      },
    );
    const { result } = await run(s.activities, {
      during: (id) => {
        workflowId = id;
        return Promise.resolve();
      },
    });
    assert.equal(result?.messagesAcknowledged, 2);
    const acked = s
      .named('acknowledge')
      .flatMap((c) => (c.args[0] as QueueMessage[]).map((m) => m.receiptHandle));
    assert.deepEqual(acked.sort(), ['dup-1', 'handle-2']);
    assert.equal(
      s.named('extendVisibility').length,
      0,
      'the ingress received them invisible for a whole extension: a short file needs none',
    );
  });

  it('deletes a message again with its newer receipt handle when it was received again while finishing', async () => {
    let workflowId = '';
    let resignalled = false;
    const s = stubs(
      {},
      {
        acknowledge: async () => {
          if (resignalled) return;
          resignalled = true;
          // The ingress's hand-over of the same message was retried: a new receive, a new handle, whose
          // delete alone removes the message; the first handle's delete is refused as stale.
          const handle = env.client.workflow.getHandle(workflowId);
          await handle.signal(messageReceivedSignal, message({ receiptHandle: 'handle-2', receiveCount: 2 }));
        },
      },
    );
    const { result } = await run(s.activities, {
      during: (id) => {
        workflowId = id;
        return Promise.resolve();
      },
    });
    assert.equal(result?.status, 'processed');
    assert.deepEqual(
      s.named('acknowledge').map((c) => (c.args[0] as QueueMessage[]).map((m) => m.receiptHandle)),
      [['handle-1'], ['handle-2']],
    );
    assert.equal(result?.messagesAcknowledged, 1);
  });

  it('extends every message it holds every third of the visibility timeout while it works', async () => {
    const s = stubs(
      {},
      {
        runProcessor: async (req: ComputeRequest) => {
          await new Promise((resolve) => setTimeout(resolve, 2_500));
          return computed(req);
        },
      },
    );
    const { result } = await run(s.activities, { workflowOptions: { visibilityTimeoutSeconds: 3 } });
    assert.equal(result?.status, 'processed');
    const extensions = s.named('extendVisibility').map((c) => c.args as [QueueMessage[], number]);
    assert.ok(extensions.length >= 2, `${extensions.length} extensions in 2.5 s, one a second expected`);
    for (const [messages, seconds] of extensions) {
      assert.deepEqual([messages.map((m) => m.receiptHandle), seconds], [['handle-1'], 3]);
    }
  });

  it('reroutes a Batch job stuck without capacity to ECS and records why', async () => {
    const s = stubs(
      { 'processor-type': 'pool' },
      {
        runProcessor: async (req: ComputeRequest) => {
          if (req.route === 'ecs') return computed(req);
          throw ApplicationFailure.create({
            message: 'Batch job j-1 no capacity: RUNNABLE for more than 900s',
            type: FailureType.capacityUnavailable,
            nonRetryable: true,
          });
        },
      },
    );
    const { result, workflowId } = await run(s.activities);
    assert.equal(result?.status, 'processed');
    assert.deepEqual([result?.route, result?.backend], ['batch', 'ecs'], 'routed to Batch, run on ECS');
    assert.match(result?.rerouted ?? '', /RUNNABLE for more than 900s/);
    assert.deepEqual(
      s.named('runProcessor').map((c) => (c.args[0] as ComputeRequest).route),
      ['batch', 'ecs'],
    );
    assert.equal((await searchAttributes(workflowId)).backend, 'ecs');
  });

  it('skips a superseded object version: acknowledged, not processed, not dead-lettered', async () => {
    const s = stubs(
      {},
      {
        inspectObject: () =>
          Promise.reject(
            ApplicationFailure.create({
              message: 'overwritten',
              type: FailureType.objectSuperseded,
              nonRetryable: true,
            }),
          ),
      },
    );
    const { result } = await run(s.activities);
    assert.equal(result?.status, 'skipped');
    assert.equal(s.named('acknowledge').length, 1);
    assert.equal(s.named('runProcessor').length + s.named('moveToDeadLetter').length, 0);
  });
});

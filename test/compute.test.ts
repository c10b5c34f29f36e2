/**
 * The compute activity's verdicts, whatever the backend: what is permanent, what is retried, what a
 * Batch job or ECS task said when it ended, and the lifecycle the local backend mirrors.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import type { BatchClient } from '@aws-sdk/client-batch';
import { S3Client } from '@aws-sdk/client-s3';
import { batchOutcome, createBatchBackend } from '../activities/batch-backend';
import {
  createComputeActivities,
  jobNameFor,
  type Backend,
  type ComputeRequest,
  type ComputeResult,
  type RunProgress,
  type ProcessorOutcome,
} from '../activities/compute';
import { ecsOutcome } from '../activities/ecs-backend';
import { createLocalBackend } from '../activities/local-backend';
import { checkOutput, type OutputFacts } from '../activities/objects';
import type { ProcessorStats } from '../contract/reports';
import { FailureType } from '../contract/failures';
import { WORKER_STOP_REASON_PREFIX } from '../contract/stop-reasons';

const REQUEST: ComputeRequest = {
  route: 'batch',
  job: 'csv-transform',
  source: { bucket: 'in', key: 'a.csv', etag: 'e1' },
  destinationKey: 'outputs/a.csv',
  processedAt: '2026-01-01T00:00:00.000Z',
  timeoutSeconds: 60,
};

/** What a successful run reports (read from its stdout by the local backend, from STATS_KEY on AWS). */
const STATS: ProcessorStats = {
  job: 'csv-transform',
  output: 's3://out/outputs/a.csv',
  bytesIn: 9,
  rowsIn: 1,
  rowsOut: 1,
};

function backendEnding(outcome: Omit<ProcessorOutcome, 'handle'>): Backend {
  return {
    name: 'batch',
    request: (run) => ({ jobName: run.jobName }),
    run: async () => ({ handle: { backend: 'batch', id: 'job-1' }, ...outcome }),
  };
}

async function runWith(
  backend: Backend,
  heartbeatDetails?: RunProgress,
  request: ComputeRequest = REQUEST,
): Promise<ComputeResult> {
  const activities = createComputeActivities({
    backends: { batch: backend, ecs: backend, inline: backend },
    s3: new S3Client({ region: 'us-east-1' }),
    outputBucket: 'out',
    awsRegion: 'us-east-1',
  });
  const env = new MockActivityEnvironment({
    attempt: 2,
    ...(heartbeatDetails ? { heartbeatDetails } : {}),
    workflowExecution: { workflowId: 'file:in/a.csv@e1', runId: 'r' },
  });
  return env.run((req: ComputeRequest) => activities.runProcessor(req), request);
}

describe('compute activity', () => {
  it('fails permanently when the processor says the input is invalid (exit 65)', async () => {
    await assert.rejects(
      runWith(
        backendEnding({ succeeded: false, exitCode: 65, detail: 'line 3: unterminated quote', logRef: 'ls' }),
      ),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.nonRetryable &&
        err.type === FailureType.invalidInput &&
        /line 3: unterminated quote/.test(err.message),
    );
  });

  it('retries a job lost to a Spot reclaim (no exit code) or a crash (exit 1)', async () => {
    for (const exitCode of [undefined, 1]) {
      await assert.rejects(
        runWith(
          backendEnding({
            succeeded: false,
            ...(exitCode === undefined ? {} : { exitCode }),
            detail: 'Host EC2 terminated',
            logRef: 'ls',
          }),
        ),
        (err: unknown) =>
          err instanceof ApplicationFailure && !err.nonRetryable && err.type === FailureType.processorFailed,
      );
    }
  });

  it('stops a job that outlives its time limit and fails it as a processor failure', async () => {
    let stopped = false;
    const hanging: Backend = {
      name: 'batch',
      request: () => ({}),
      run: async (run) => {
        for (;;) {
          try {
            await run.sleep(60_000);
          } catch (err) {
            stopped = run.stopRunOnAbort();
            throw err;
          }
        }
      },
    };
    await assert.rejects(
      runWith(hanging, undefined, { ...REQUEST, timeoutSeconds: 0.2 }),
      (err: unknown) =>
        err instanceof ApplicationFailure &&
        err.type === FailureType.processorFailed &&
        /ran longer than 0.2s on batch and was stopped/.test(err.message),
    );
    assert.ok(stopped, 'the backend was told to stop the job');
  });

  it('returns the request sent and a Batch-valid job name unique per attempt', async () => {
    const result = await runWith(
      backendEnding({ succeeded: true, exitCode: 0, detail: '', logRef: 'ls', report: STATS }),
    );
    assert.equal(result.runId, 'job-1');
    assert.deepEqual(result.awsRequest, { jobName: jobNameFor('file:in/a.csv@e1', 2) });
    assert.match(jobNameFor('file:in/a.csv@e1', 2), /^file-in-a-csv-e1-[0-9a-f]{12}-a2$/);
    assert.notEqual(jobNameFor('file:in/a.csv@e1', 1), jobNameFor('file:in/a.csv@e1', 2));
    assert.ok(jobNameFor(`file:in/${'x'.repeat(500)}`, 1).length <= 128);
  });

  it('hands the job of an earlier attempt on the same backend to the retry', async () => {
    let resumed: unknown;
    const backend: Backend = {
      name: 'batch',
      request: () => ({}),
      run: async (run) => {
        resumed = run.resume;
        return {
          handle: { backend: 'batch', id: 'job-0' },
          succeeded: true,
          exitCode: 0,
          detail: '',
          logRef: '',
          report: STATS,
        };
      },
    };
    await runWith(backend, { backend: 'batch', id: 'job-0', status: 'RUNNING' });
    assert.deepEqual(resumed, { backend: 'batch', id: 'job-0' });
    await runWith(backend, { backend: 'local', id: 'pid 1', status: 'RUNNING' });
    assert.equal(resumed, undefined, 'a job of another backend is not resumed');
  });
});

describe('job outcomes', () => {
  const handle = { backend: 'x', id: 'id-1' };

  it('reads a FAILED Batch job: status reason, the last attempt, exit code and log stream', () => {
    const outcome = batchOutcome(
      {
        jobName: 'j',
        jobId: 'id-1',
        jobQueue: 'q',
        jobDefinition: 'd',
        startedAt: 0,
        status: 'FAILED',
        statusReason: 'Essential container in task exited',
        attempts: [
          { container: { exitCode: 65, logStreamName: 'proc/default/abc', reason: 'invalid input' } },
        ],
      },
      handle,
    );
    assert.deepEqual(outcome, {
      handle,
      succeeded: false,
      exitCode: 65,
      detail: 'status reason: Essential container in task exited; container: invalid input',
      logRef: 'log stream proc/default/abc',
    });
  });

  it('counts an ECS task as successful only when it stopped because its container exited 0', () => {
    const stopped = (extra: object) => ({
      lastStatus: 'STOPPED',
      containers: [{ name: 'processor', exitCode: 0 }],
      ...extra,
    });
    assert.equal(
      ecsOutcome(stopped({ stopCode: 'EssentialContainerExited' }), 'processor', handle).succeeded,
      true,
    );
    assert.equal(
      ecsOutcome(stopped({ stopCode: 'SpotInterruption', stoppedReason: 'reclaimed' }), 'processor', handle)
        .succeeded,
      false,
    );
    assert.equal(ecsOutcome(stopped({ stopCode: 'UserInitiated' }), 'processor', handle).succeeded, false);
    assert.equal(
      ecsOutcome(stopped({ stoppedReason: 'stopped by hand' }), 'processor', handle).succeeded,
      false,
    );
    const failed = ecsOutcome(
      {
        lastStatus: 'STOPPED',
        stopCode: 'EssentialContainerExited',
        containers: [{ name: 'processor', exitCode: 66 }],
      },
      'processor',
      handle,
    );
    assert.equal(failed.exitCode, 66);
    assert.equal(failed.succeeded, false);
  });
});

describe('Batch backend', () => {
  it('terminates a job stuck RUNNABLE past the limit and asks for ECS', async () => {
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    const batch = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        if (command.constructor.name === 'SubmitJobCommand') return { jobId: 'job-9' };
        if (command.constructor.name === 'DescribeJobsCommand')
          return { jobs: [{ jobId: 'job-9', status: 'RUNNABLE' }] };
        return {};
      },
    } as unknown as BatchClient;
    const backend = createBatchBackend({
      batch,
      jobQueue: 'q',
      jobDefinition: 'd',
      pollSeconds: 0.05,
      runnableTimeoutSeconds: 0.2,
    });
    await assert.rejects(
      backend.run({
        environment: {},
        jobName: 'j-a1',
        startedBy: 'wf',
        clientToken: 't',
        tags: {},
        heartbeat: () => {},
        signal: new AbortController().signal,
        stopRunOnAbort: () => true,
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      }),
      (err: unknown) =>
        err instanceof ApplicationFailure && err.type === FailureType.capacityUnavailable && err.nonRetryable,
    );
    const terminate = sent.find((c) => c.name === 'TerminateJobCommand');
    assert.equal(terminate?.input.jobId, 'job-9');
    assert.match(String(terminate?.input.reason), /RUNNABLE for more than 0.2s/);
    // The prefix the paging rules recognise the worker's own stops by (infra/lib/paging.ts).
    assert.ok(String(terminate?.input.reason).startsWith(WORKER_STOP_REASON_PREFIX));
  });
});

describe('local backend', () => {
  it('mirrors the AWS lifecycle in its heartbeats and records the mirrored request', async () => {
    const statuses: string[] = [];
    const backend = createLocalBackend({ mirrors: (run) => ({ jobName: run.jobName, jobQueue: 'q' }) });
    const run = {
      // No SOURCE_BUCKET: the processor exits at once with its configuration error.
      environment: { JOB: 'csv-transform' },
      jobName: 'j-a1',
      startedBy: 'wf-1',
      clientToken: 't',
      tags: {},
      heartbeat: (p: RunProgress) => statuses.push(p.status),
      signal: new AbortController().signal,
      stopRunOnAbort: () => true,
      sleep: async () => {},
    };
    assert.deepEqual(backend.request(run), { jobName: 'j-a1', jobQueue: 'q' });
    const outcome = await backend.run(run);
    assert.equal(outcome.succeeded, false);
    assert.equal(outcome.exitCode, 78);
    assert.match(outcome.detail, /SOURCE_BUCKET/);
    assert.deepEqual(statuses, ['SUBMITTED', 'RUNNABLE', 'RUNNING', 'FAILED']);
  });
});

describe('output verification', () => {
  const source = { etag: 'e1', versionId: 'v1' };
  const facts = { bucket: 'out', key: 'outputs/a.csv', size: 10, sourceEtag: 'e1' };

  it('accepts an inline output from its upload, whose version is the one read by If-Match', () => {
    assert.deepEqual(checkOutput(facts, { source, allowEmpty: false }), {
      bucket: 'out',
      key: 'outputs/a.csv',
      size: 10,
    });
  });

  it('refuses an output of another source version, an empty one, or one naming another version', () => {
    const refused = (output: OutputFacts, allowEmpty = false) =>
      assert.throws(
        () => checkOutput(output, { source, allowEmpty }),
        (err: unknown) =>
          err instanceof ApplicationFailure && err.type === FailureType.outputInvalid && !err.nonRetryable,
      );
    refused({ ...facts, sourceEtag: 'e0' });
    refused({ ...facts, sourceEtag: undefined });
    refused({ ...facts, size: 0 });
    refused({ ...facts, sourceVersionId: 'v0' });
    assert.equal(checkOutput({ ...facts, size: 0 }, { source, allowEmpty: true }).size, 0);
  });
});

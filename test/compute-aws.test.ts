/**
 * The Batch and ECS backends through the real compute activity, against moto's Batch and ECS APIs (the
 * same moto server the stack uses), inside `processFile` workflows on a real Temporal dev server. The S3
 * and SQS activities are stubbed here: moto runs no containers, so no processor writes an output.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DescribeJobsCommand, ListJobsCommand } from '@aws-sdk/client-batch';
import { DescribeTasksCommand, ListTasksCommand, StopTaskCommand } from '@aws-sdk/client-ecs';
import { CreateBucketCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { DeleteMessageCommand, ReceiveMessageCommand } from '@aws-sdk/client-sqs';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { CancelledFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import type { Activities } from '../activities';
import { createBackends, type BackendSettings } from '../activities/backends';
import { createComputeActivities } from '../activities/compute';
import type { ObjectInfo } from '../activities/objects';
import { JOB_TAGS } from '../contract/jobs';
import { OUTPUT_METADATA } from '../contract/layout';
import { queueDepth } from '../scripts/pipeline-client';
import { startStack, type Stack } from '../scripts/stack';
import { REPO_ROOT } from '../scripts/tools';
import { messageReceivedSignal, type ProcessFileOptions, type ProcessFileResult } from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { processFile } from '../workflows/process-file';
import { createAwsClients, type AwsClients } from '../common/aws';
import { recordingCalls } from './support/aws-calls';
import { batchJobs, ecsTasks, provisionCompute } from './support/aws-compute';
import { withWorkers } from './support/temporal';
import { eventually } from './support/eventually';
import { DEFAULT_SCHEMA, stubActivities } from './support/stubs';
import { statsKeyFor } from '../contract/layout';

interface World {
  stack: Stack;
  client: Client;
  connection: NativeConnection;
  settings: BackendSettings;
  /** The clients of the compute activities, as the worker builds them: their calls are recorded. */
  worker: AwsClients;
}

async function world(motoEnv: Record<string, string> = {}): Promise<World> {
  const stack = await startStack({ processes: false, motoEnv });
  try {
    const client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
    const connection = await NativeConnection.connect({ address: stack.temporalAddress });
    const worker = createAwsClients(
      { AWS_REGION: stack.region, AWS_ENDPOINT_URL: stack.awsEndpoint, ...recordingCalls },
      'worker',
    );
    // No container runs here, so none leaves the statistics a whole-file run reads back: they are put ahead.
    await stack.aws.s3.send(new CreateBucketCommand({ Bucket: 'out' }));
    await stack.aws.s3.send(
      new PutObjectCommand({
        Bucket: 'out',
        Key: statsKeyFor('outputs/data/report.csv'),
        Body: JSON.stringify({
          job: 'csv-transform',
          output: 's3://out/outputs/data/report.csv',
          bytesIn: 9,
        }),
      }),
    );
    return { stack, client, connection, settings: await provisionCompute(stack), worker };
  } catch (err) {
    await stack.stop();
    throw err;
  }
}

async function teardown(w: World | undefined): Promise<void> {
  await w?.client.connection.close();
  await w?.connection.close();
  if (w) for (const c of [w.worker.s3, w.worker.sqs, w.worker.batch, w.worker.ecs]) c.destroy();
  await w?.stack.stop();
}

function activitiesFor(w: World, metadata: Record<string, string>): Activities {
  const info: ObjectInfo = {
    bucket: 'in',
    key: 'data/report.csv',
    size: 9,
    etag: 'etag-1',
    metadata,
    schema: DEFAULT_SCHEMA,
  };
  return {
    ...stubActivities(info),
    ...createComputeActivities({
      backends: createBackends(w.settings, w.worker),
      // Not recorded: "out" is no bucket of the deployment, and this test only stands in for the container.
      s3: w.stack.aws.s3,
      outputBucket: 'out',
      awsRegion: w.stack.region,
      awsEndpointUrl: w.stack.awsEndpoint,
    }),
  };
}

const OPTIONS: ProcessFileOptions = {
  computeRetry: { maximumAttempts: 2, initialIntervalSeconds: 0.2 },
  heartbeatTimeoutSeconds: 3,
  // The files here are a few bytes: without a processor type they would run inline, not on ECS.
  inlineMaxBytes: 0,
};

/** Starts `processFile` as the ingress would and runs `during` while it works. */
async function runWorkflow(
  w: World,
  metadata: Record<string, string>,
  during: (workflowId: string) => Promise<void> = async () => {},
): Promise<{ result?: ProcessFileResult; error?: WorkflowFailedError }> {
  const taskQueue = `compute-${randomUUID()}`;
  return withWorkers<{ result?: ProcessFileResult; error?: WorkflowFailedError }>(
    w.connection,
    taskQueue,
    activitiesFor(w, metadata),
    async () => {
      const workflowId = `wf-${randomUUID()}`;
      const handle = await w.client.workflow.signalWithStart(processFile, {
        workflowId,
        taskQueue,
        args: [{ object: { bucket: 'in', key: 'data.csv', etag: 'etag-1' }, options: OPTIONS }],
        signal: messageReceivedSignal,
        signalArgs: [{ queueUrl: 'q', messageId: 'm', receiptHandle: 'h', receiveCount: 1, body: '{}' }],
      });
      await during(workflowId);
      try {
        return { result: await handle.result() };
      } catch (err) {
        if (err instanceof WorkflowFailedError) return { error: err };
        throw err;
      }
    },
  );
}

const env = (pairs: { name?: string; value?: string }[] | undefined): Record<string, string | undefined> =>
  Object.fromEntries((pairs ?? []).map((p): [string, string | undefined] => [p.name ?? '', p.value]));

async function taskArns(w: World): Promise<string[]> {
  const lists = await Promise.all(
    (['RUNNING', 'STOPPED'] as const).map((desiredStatus) =>
      w.stack.aws.ecs.send(new ListTasksCommand({ cluster: w.settings.ecs.cluster, desiredStatus })),
    ),
  );
  return [...new Set(lists.flatMap((l) => l.taskArns ?? []))];
}

describe('compute backends against moto', () => {
  let w: World;
  before(async () => {
    w = await world();
  });
  after(() => teardown(w));

  it('submits a pool file to AWS Batch with the processor contract, a valid name and tags', async () => {
    const { result, error } = await runWorkflow(w, { 'processor-type': 'pool' });
    assert.equal(error, undefined, error?.cause?.message);
    assert.equal(result?.backend, 'batch');
    const { jobs = [] } = await w.stack.aws.batch.send(new DescribeJobsCommand({ jobs: [result.runId!] }));
    const job = jobs[0]!;
    assert.equal(job.status, 'SUCCEEDED');
    assert.equal(job.jobQueue, w.settings.batch.jobQueue);
    assert.equal(job.jobDefinition, w.settings.batch.jobDefinition);
    assert.match(job.jobName!, /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/);
    const sent = env(job.container?.environment);
    assert.equal(sent.JOB, 'csv-transform');
    assert.equal(sent.SOURCE_BUCKET, 'in');
    assert.equal(sent.SOURCE_ETAG, 'etag-1');
    assert.equal(sent.DEST_BUCKET, 'out');
    assert.equal(sent.AWS_ENDPOINT_URL, w.stack.awsEndpoint);
    assert.match(job.tags?.[JOB_TAGS.workflowId] ?? '', /^wf-/);
    assert.equal(job.tags?.[JOB_TAGS.jobQueue], w.settings.batch.jobQueue);
    assert.deepEqual(result?.awsRequest, {
      ...(result?.awsRequest as object),
      jobQueue: w.settings.batch.jobQueue,
      jobName: job.jobName,
    });
  });

  it('runs any other file as an ECS Fargate task in private subnets, successful once its container exits 0', async () => {
    const { result, error } = await runWorkflow(w, {});
    assert.equal(error, undefined, error?.cause?.message);
    assert.equal(result?.backend, 'ecs');
    const { tasks = [] } = await w.stack.aws.ecs.send(
      new DescribeTasksCommand({ cluster: w.settings.ecs.cluster, tasks: [result.runId!] }),
    );
    const task = tasks[0]!;
    assert.equal(task.lastStatus, 'STOPPED');
    assert.equal(task.taskDefinitionArn, w.settings.ecs.taskDefinition);
    assert.match(task.startedBy ?? '', /^wf-[0-9a-f]{32}$/);
    const override = task.overrides?.containerOverrides?.[0];
    assert.equal(override?.name, 'processor');
    assert.equal(env(override?.environment).DEST_KEY, 'outputs/data/report.csv');
    const request = result?.awsRequest as {
      networkConfiguration: unknown;
      capacityProviderStrategy: unknown;
    };
    assert.deepEqual(request.networkConfiguration, {
      awsvpcConfiguration: {
        subnets: w.settings.ecs.subnets,
        securityGroups: w.settings.ecs.securityGroups,
        assignPublicIp: 'DISABLED',
      },
    });
    assert.deepEqual(request.capacityProviderStrategy, [{ capacityProvider: 'FARGATE_SPOT', weight: 1 }]);
  });

  it('retries a task stopped from outside (e.g. Spot interruption), then fails with the stop reason', async () => {
    await ecsTasks.hold(w.stack);
    const stopped = new Set<string>(await taskArns(w));
    const earlier = stopped.size;
    let stopping = true;
    const stopper = (async () => {
      while (stopping) {
        for (const arn of await taskArns(w)) {
          if (stopped.has(arn)) continue;
          stopped.add(arn);
          await w.stack.aws.ecs.send(
            new StopTaskCommand({
              cluster: w.settings.ecs.cluster,
              task: arn,
              reason: 'Spot interruption (simulated)',
            }),
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    try {
      const { error } = await runWorkflow(w, {});
      assert.ok(error, 'the workflow fails');
      const cause = error.cause as ApplicationFailure;
      assert.equal(cause.type, FailureType.processorFailed);
      assert.match(cause.message, /Spot interruption \(simulated\)/);
      assert.equal(stopped.size - earlier, 2, 'one task per attempt, two attempts');
    } finally {
      stopping = false;
      await stopper;
      await ecsTasks.release(w.stack);
    }
  });

  it('terminates the Batch job when the workflow is cancelled', async () => {
    await batchJobs.hold(w.stack);
    let jobId = '';
    try {
      const { error } = await runWorkflow(w, { 'processor-type': 'pool' }, async (workflowId) => {
        jobId = await eventually('the job', async () => {
          const { jobSummaryList = [] } = await w.stack.aws.batch.send(
            new ListJobsCommand({ jobQueue: w.settings.batch.jobQueue, jobStatus: 'SUBMITTED' }),
          );
          return jobSummaryList[0]?.jobId;
        });
        await w.client.workflow.getHandle(workflowId).cancel();
      });
      assert.ok(error?.cause instanceof CancelledFailure, String(error?.cause));
      const { jobs = [] } = await w.stack.aws.batch.send(new DescribeJobsCommand({ jobs: [jobId] }));
      assert.match(jobs[0]?.statusReason ?? '', /cancelled by its Temporal workflow/);
    } finally {
      await batchJobs.release(w.stack);
    }
  });

  it('stops the ECS task when the workflow is cancelled', async () => {
    await ecsTasks.hold(w.stack);
    const before = new Set(await taskArns(w));
    let arn = '';
    try {
      const { error } = await runWorkflow(w, {}, async (workflowId) => {
        arn = await eventually('the task', async () => (await taskArns(w)).find((a) => !before.has(a)));
        await w.client.workflow.getHandle(workflowId).cancel();
      });
      assert.ok(error?.cause instanceof CancelledFailure, String(error?.cause));
    } finally {
      await ecsTasks.release(w.stack);
    }
    const { tasks = [] } = await w.stack.aws.ecs.send(
      new DescribeTasksCommand({ cluster: w.settings.ecs.cluster, tasks: [arn] }),
    );
    assert.equal(tasks[0]?.lastStatus, 'STOPPED');
    assert.match(tasks[0]?.stoppedReason ?? '', /cancelled by its Temporal workflow/);
  });
});

describe('a worker killed while its ECS task runs', () => {
  let w: World;
  const workers: ChildProcess[] = [];
  before(async () => {
    w = await world();
  });
  after(async () => {
    for (const p of workers) if (p.exitCode === null) p.kill('SIGKILL');
    await teardown(w);
  });

  /** The real worker process in aws mode, against moto. */
  async function startWorker(): Promise<ChildProcess> {
    const { ecs } = w.settings;
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'workers/main.ts')], {
      env: {
        ...process.env,
        ...w.stack.env,
        ...recordingCalls,
        COMPUTE_MODE: 'aws',
        COMPUTE_POLL_SECONDS: '0.2',
        ECS_CLUSTER: ecs.cluster,
        ECS_TASK_DEFINITION: ecs.taskDefinition,
        ECS_CONTAINER_NAME: ecs.containerName,
        ECS_SUBNETS: ecs.subnets.join(','),
        ECS_SECURITY_GROUPS: ecs.securityGroups.join(','),
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    workers.push(child);
    let output = '';
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    await eventually('the worker to start', async () => (output.includes('worker ready') ? true : undefined));
    return child;
  }

  it('resumes waiting on the same task in the retried attempt: one task, one output, message deleted', async () => {
    const key = 'resume/report.csv';
    const put = await w.stack.aws.s3.send(
      new PutObjectCommand({ Bucket: w.stack.inputBucket, Key: key, Body: 'a,b\n1,2\n' }),
    );
    const etag = put.ETag!.replace(/"/g, '');
    const message = await eventually('the notification', async () => {
      const { Messages = [] } = await w.stack.aws.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: w.stack.queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
        }),
      );
      for (const m of Messages.filter((m) => m.Body?.includes('s3:TestEvent'))) {
        await w.stack.aws.sqs.send(
          new DeleteMessageCommand({ QueueUrl: w.stack.queueUrl, ReceiptHandle: m.ReceiptHandle }),
        );
      }
      return Messages.find((m) => m.Body?.includes('ObjectCreated'));
    });
    await ecsTasks.hold(w.stack);
    const first = await startWorker();
    const before = new Set(await taskArns(w));
    const handle = await w.client.workflow.signalWithStart(processFile, {
      workflowId: `resume-${randomUUID()}`,
      taskQueue: w.stack.taskQueue,
      args: [
        {
          object: { bucket: w.stack.inputBucket, key, etag },
          options: { ...OPTIONS, visibilityTimeoutSeconds: 30 },
        },
      ],
      signal: messageReceivedSignal,
      signalArgs: [
        {
          queueUrl: w.stack.queueUrl,
          messageId: message.MessageId!,
          receiptHandle: message.ReceiptHandle!,
          receiveCount: 1,
          body: message.Body!,
        },
      ],
    });
    const taskArn = await eventually('the task', async () => (await taskArns(w)).find((a) => !before.has(a)));
    // Kill the worker only once Temporal holds the task ARN in the activity's heartbeat details.
    await eventually('a heartbeat with the task', async () => {
      const { raw } = await handle.describe();
      return raw.pendingActivities?.some((a) => (a.heartbeatDetails?.payloads?.length ?? 0) > 0)
        ? true
        : undefined;
    });
    first.kill('SIGKILL');
    await startWorker();

    // The container would write the output and its statistics; moto runs none, so the test does, then lets
    // the task exit 0.
    await w.stack.aws.s3.send(
      new PutObjectCommand({
        Bucket: w.stack.outputBucket,
        Key: `outputs/${key}`,
        Body: 'a,b,processed_at\n',
        Metadata: { [OUTPUT_METADATA.sourceEtag]: etag },
      }),
    );
    await w.stack.aws.s3.send(
      new PutObjectCommand({
        Bucket: w.stack.outputBucket,
        Key: statsKeyFor(`outputs/${key}`),
        Body: JSON.stringify({ job: 'csv-transform', rowsIn: 0, rowsOut: 0 }),
      }),
    );
    await eventually('the retried attempt', async () => {
      const { raw } = await handle.describe();
      return (raw.pendingActivities?.[0]?.attempt ?? 0) >= 2 ? true : undefined;
    });
    await ecsTasks.release(w.stack);

    const result = await handle.result();
    assert.equal(result.status, 'processed');
    assert.equal(result.runId, taskArn, 'the retried attempt waited on the first task');
    assert.deepEqual(
      (await taskArns(w)).filter((a) => !before.has(a)),
      [taskArn],
      'moto holds exactly one task for the file',
    );
    assert.equal(await queueDepth(w.stack.aws.sqs, w.stack.queueUrl), 0, 'the message was deleted');
  });
});

describe('AWS Batch job failures against moto (MOTO_SIMPLE_BATCH_FAIL_AFTER=0)', () => {
  let w: World;
  before(async () => {
    w = await world({ MOTO_SIMPLE_BATCH_FAIL_AFTER: '0' });
  });
  after(() => teardown(w));

  it('retries a FAILED job with a new job per attempt, then fails with what Batch said', async () => {
    const { error } = await runWorkflow(w, { 'processor-type': 'pool' });
    assert.ok(error, 'the workflow fails');
    const cause = error.cause as ApplicationFailure;
    assert.equal(cause.type, FailureType.processorFailed);
    assert.match(cause.message, /failed on batch/);
    const { jobSummaryList = [] } = await w.stack.aws.batch.send(
      new ListJobsCommand({ jobQueue: w.settings.batch.jobQueue, jobStatus: 'FAILED' }),
    );
    assert.equal(jobSummaryList.length, 2, 'two attempts, one job each');
  });
});

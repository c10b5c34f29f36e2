/**
 * Chunked files with the real activities (S3 on moto, the processor as local processes) and a worker in this
 * process, whose compute activity can be made to fail for chosen chunks: a redrive reruns only the failed
 * chunks and reuses the others' parts; a header mismatch and too many rejected rows fail the file for good.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../activities';
import { createBackends } from '../activities/backends';
import { isNotFound } from '../common/aws';
import { workflowIdFor } from '../common/ids';
import { uploadFile } from '../scripts/pipeline-client';
import { redrive } from '../common/redrive';
import { startStack, type Stack } from '../scripts/stack';
import { type ProcessFileResult } from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { processFile } from '../workflows/process-file';
import { withWorkers } from './support/temporal';
import { TRANSACTIONS_HEADER, writeTransactions } from '../scripts/transactions';
import { processWhole } from './support/processor';

let stack: Stack;
let client: Client;
let native: NativeConnection;
let dir: string;
/** Chunk indices whose compute activity fails (as a job that keeps crashing would). */
const failing = new Set<number>();
const ran: number[] = [];

before(async () => {
  stack = await startStack({ processes: false });
  // The local processor gets its credentials from the worker's environment, as a container from its role.
  for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) process.env[name] = stack.env[name];
  client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  native = await NativeConnection.connect({ address: stack.temporalAddress });
  dir = mkdtempSync(join(tmpdir(), 'chunks-redrive-'));
});

after(async () => {
  await client?.connection.close();
  await native?.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function activities() {
  const real = createActivities({
    ...stack.aws,
    outputBucket: stack.outputBucket,
    backends: createBackends(
      {
        mode: 'local',
        batch: { jobQueue: 'jobs', jobDefinition: 'processor', runnableTimeoutSeconds: 900 },
        ecs: {
          cluster: 'processors',
          taskDefinition: 'processor',
          containerName: 'processor',
          capacityProvider: 'FARGATE',
          subnets: ['subnet-1'],
          securityGroups: ['sg-1'],
        },
        pollSeconds: 0.2,
        heartbeatSeconds: 1,
      },
      stack.aws,
    ),
    awsRegion: stack.region,
    awsEndpointUrl: stack.awsEndpoint,
  });
  return {
    ...real,
    runProcessor: async (req: Parameters<typeof real.runProcessor>[0]) => {
      const index = req.chunk?.index ?? 0;
      if (failing.has(index)) {
        throw ApplicationFailure.create({
          message: `chunk ${index + 1}: the job crashed`,
          type: FailureType.processorFailed,
        });
      }
      ran.push(index);
      return real.runProcessor(req);
    },
  };
}

const TASK_QUEUE = 'chunks-redrive';

/** Runs `start` (which starts a workflow) with workers polling, and waits for the workflow's outcome. */
async function run(
  workflowId: string,
  start: () => Promise<unknown>,
): Promise<{ result?: ProcessFileResult; error?: ApplicationFailure }> {
  ran.length = 0;
  return withWorkers(native, TASK_QUEUE, activities(), async () => {
    await start();
    try {
      return { result: (await client.workflow.getHandle(workflowId).result()) as ProcessFileResult };
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw err;
      assert.ok(err.cause instanceof ApplicationFailure, String(err.cause));
      return { error: err.cause };
    }
  });
}

/** Uploads `path` and starts its workflow as the ingress would, chunks retried once at most. */
async function upload(key: string, path: string, metadata: Record<string, string>) {
  const ref = await uploadFile(stack.aws.s3, stack.inputBucket, key, path, { metadata });
  const workflowId = workflowIdFor(ref);
  const start = () =>
    client.workflow.start(processFile, {
      workflowId,
      taskQueue: TASK_QUEUE,
      args: [{ object: ref, options: { computeRetry: { maximumAttempts: 1, initialIntervalSeconds: 0.1 } } }],
    });
  return { ref, workflowId, start };
}

async function stagingCount(): Promise<number> {
  const page = await stack.aws.s3.send(
    new ListObjectsV2Command({ Bucket: stack.outputBucket, Prefix: 'staging/' }),
  );
  return page.KeyCount ?? 0;
}

async function exists(key: string): Promise<boolean> {
  try {
    await stack.aws.s3.send(new HeadObjectCommand({ Bucket: stack.outputBucket, Key: key }));
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

async function bytesOf(key: string): Promise<Buffer> {
  const res = await stack.aws.s3.send(new GetObjectCommand({ Bucket: stack.outputBucket, Key: key }));
  return Buffer.from(await res.Body!.transformToByteArray());
}

describe('chunked files: redrive, header mismatch, rejected-row threshold', () => {
  it('reruns only the failed chunks on redrive, reusing the parts of the others', async () => {
    const file = join(dir, 'redrive.csv');
    await writeTransactions(file, 3 * 1024 * 1024, 11);
    const { workflowId, start } = await upload('redrive/transactions.csv', file, { 'chunk-size': '256KiB' });
    failing.add(2).add(5);
    const first = await run(workflowId, start);
    assert.equal(first.error?.type, FailureType.chunksFailed);
    assert.match(first.error.message, /2 of \d+ chunks failed, 0 tolerated; chunk 3 .*the job crashed/);
    assert.ok((await stagingCount()) > 0, 'the finished chunks stay in staging');
    const finished = [...ran];

    failing.clear();
    const second = await run(workflowId, () => redrive(client, workflowId, 'npm run redrive'));
    assert.equal(second.result?.status, 'processed', second.error?.message);
    const total = second.result.chunks!.total;
    const unfinished = Array.from({ length: total }, (_, i) => i).filter((i) => !finished.includes(i));
    assert.ok(unfinished.includes(2) && unfinished.includes(5));
    assert.deepEqual(
      ran.sort((a, b) => a - b),
      unfinished,
      'only the chunks the first run did not finish ran again',
    );
    assert.deepEqual(second.result.chunks, {
      total,
      done: unfinished.length,
      reused: finished.length,
      failed: 0,
    });

    await processWhole([
      '--job',
      'csv-transform',
      file,
      join(dir, 'whole.csv'),
      '--processed-at',
      second.result.processedAt!,
    ]);
    const output = await bytesOf(second.result.output!.key);
    assert.ok(output.equals(readFileSync(join(dir, 'whole.csv'))), 'the merged output is the one-run output');
    assert.equal(await stagingCount(), 0);
  });

  it('fails a file whose header does not match the schema for good, naming expected and found columns', async () => {
    const file = join(dir, 'header.csv');
    await writeTransactions(file, 64 * 1024, 12);
    const text = readFileSync(file, 'utf8').replace(
      TRANSACTIONS_HEADER,
      TRANSACTIONS_HEADER.replace('amount', 'amt'),
    );
    writeFileSync(file, text);
    const { workflowId, start } = await upload('header/transactions.csv', file, {
      job: 'csv-validate',
      'chunk-size': '8KiB',
      'max-concurrency': '2',
    });
    const { error } = await run(workflowId, start);
    assert.equal(error?.type, FailureType.chunksFailed);
    assert.equal(error.nonRetryable, true, 'permanent: the message goes to the dead-letter queue');
    assert.match(error.message, /does not match schema "transactions"/);
    assert.match(error.message, /amt/);
    assert.ok(ran.length < 8, `it stops starting chunks after the first failure (${ran.length} ran)`);
  });

  it('fails a file with more rejected rows than the schema allows, keeping the rejects', async () => {
    const rows = [TRANSACTIONS_HEADER];
    for (let i = 0; i < 2000; i++) {
      const amount = i % 10 === 0 ? 'twelve' : `${i}.50`;
      rows.push(`tx${i},acct${i},2025-01-02,${amount},EUR,Shop ${i},grocery`);
    }
    const file = join(dir, 'rejected.csv');
    writeFileSync(file, `${rows.join('\n')}\n`);
    const { workflowId, start } = await upload('rejected/transactions.csv', file, {
      job: 'csv-validate',
      'chunk-size': '8KiB',
    });
    const { error } = await run(workflowId, start);
    assert.equal(error?.type, FailureType.invalidInput);
    assert.equal(error.nonRetryable, true);
    assert.match(error.message, /200 of 2,000 rows \(10\.00%\) were rejected, more than the 5% allowed/);
    const rejects = (await bytesOf('rejects/outputs/rejected/transactions.csv'))
      .toString('utf8')
      .trim()
      .split('\n');
    assert.equal(rejects.length, 1 + 200, 'the rejects file is kept: header and one line per rejected row');
    assert.equal(await exists('outputs/rejected/transactions.csv'), false, 'no output');
  });
});

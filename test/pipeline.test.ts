/**
 * End to end on the real local stack: moto (S3 + SQS with real notifications), a Temporal dev server,
 * and the worker and ingress as processes. Everything crosses a real process boundary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { Client, Connection } from '@temporalio/client';
import { DLQ_ATTRIBUTES } from '../activities/queue';
import { failureReportKey, type FailureReport } from '../activities/storage';
import { isNotFound } from '../common/aws';
import { workflowIdFor } from '../common/ids';
import { OUTPUT_METADATA } from '../common/jobs';
import { INGRESS_READY_MESSAGE } from '../ingress/ingress';
import { awaitWorkflow, queueDepth, uploadFile } from '../scripts/pipeline-client';
import { REPO_ROOT } from '../scripts/tools';
import { startStack, type Stack } from '../scripts/stack';
import { FailureType, type ObjectRef } from '../workflows/definitions';
import { eventually } from './support/eventually';

/** A bucket without notifications: the tests send its notifications themselves. */
const MANUAL_BUCKET = 'pipeline-manual';
const WAIT_MS = 60_000;

let stack: Stack;
let client: Client;
let dir: string;

before(async () => {
  stack = await startStack({
    // Short, so that an unusable message reaches the DLQ quickly; the workflows extend it at once.
    queueVisibilityTimeoutSeconds: 2,
    env: { VISIBILITY_TIMEOUT_SECONDS: '10', HEARTBEAT_SECONDS: '1' },
  });
  client = new Client({ connection: await Connection.connect({ address: stack.temporalAddress }) });
  await stack.aws.s3.send(new CreateBucketCommand({ Bucket: MANUAL_BUCKET }));
  dir = mkdtempSync(join(tmpdir(), 'pipeline-test-'));
});

after(async () => {
  await client?.connection.close();
  await stack?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function putManual(key: string, body: string): Promise<ObjectRef> {
  const put = await stack.aws.s3.send(new PutObjectCommand({ Bucket: MANUAL_BUCKET, Key: key, Body: body }));
  return { bucket: MANUAL_BUCKET, key, etag: put.ETag!.replace(/"/g, ''), size: Buffer.byteLength(body) };
}

/** An S3 event record for an object, its key encoded as S3 encodes it. */
function s3Record(ref: ObjectRef) {
  const encoded = encodeURIComponent(ref.key).replace(/%20/g, '+').replace(/%2F/g, '/');
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    eventName: 'ObjectCreated:Put',
    s3: { bucket: { name: ref.bucket }, object: { key: encoded, size: ref.size, eTag: ref.etag } },
  };
}

const send = (body: string) =>
  stack.aws.sqs.send(new SendMessageCommand({ QueueUrl: stack.queueUrl, MessageBody: body }));

async function bytesOf(bucket: string, key: string): Promise<Buffer> {
  const out = await stack.aws.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await out.Body!.transformToByteArray());
}

/** Receives and deletes every message of the dead-letter queue. */
async function drainDeadLetters(): Promise<Message[]> {
  const all: Message[] = [];
  for (;;) {
    const { Messages = [] } = await stack.aws.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: stack.deadLetterQueueUrl,
        MaxNumberOfMessages: 10,
        MessageAttributeNames: ['All'],
        WaitTimeSeconds: 0,
      }),
    );
    if (Messages.length === 0) return all;
    for (const m of Messages) {
      all.push(m);
      await stack.aws.sqs.send(
        new DeleteMessageCommand({ QueueUrl: stack.deadLetterQueueUrl, ReceiptHandle: m.ReceiptHandle }),
      );
    }
  }
}

async function executions(workflowId: string): Promise<number> {
  return (await client.workflow.count(`WorkflowId = "${workflowId}"`)).count;
}

describe('pipeline end to end', () => {
  it('processes a CSV uploaded under a key S3 must encode, byte for byte', async () => {
    const key = 'incoming/Q1 report+final ü.csv';
    const ref = await uploadFile(
      stack.aws.s3,
      stack.inputBucket,
      key,
      join(REPO_ROOT, 'scripts/samples/transactions.csv'),
      {
        processorType: 'pool',
      },
    );
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    const { result } = outcome;
    assert.equal(result.route, 'batch');
    const submitJob = result.awsRequest as {
      jobQueue: string;
      containerOverrides: { environment: { name: string }[] };
    };
    assert.equal(
      submitJob.jobQueue,
      'file-pipeline-spot',
      'the local run records the SubmitJob AWS would get',
    );
    assert.ok(submitJob.containerOverrides.environment.some((e) => e.name === 'SOURCE_ETAG'));
    assert.equal(result.output?.key, `outputs/${key}`);
    const expected = readFileSync(
      join(__dirname, 'fixtures/e2e/transactions.expected.csv'),
      'utf8',
    ).replaceAll('{{processed_at}}', result.processedAt!);
    assert.equal((await bytesOf(stack.outputBucket, result.output.key)).toString('utf8'), expected);
    const head = await stack.aws.s3.send(
      new HeadObjectCommand({ Bucket: stack.outputBucket, Key: result.output.key }),
    );
    assert.equal(head.Metadata?.[OUTPUT_METADATA.sourceEtag], ref.etag);
  });

  it('turns a long UTF-8 text file into a real multi-page PDF', async () => {
    const lines = Array.from(
      { length: 150 },
      (_, i) => `Line ${i + 1}: Grüße aus Köln, Ελληνικά, Русский — ${'lorem ipsum '.repeat(i % 12)}`,
    );
    const path = join(dir, 'notes.txt');
    writeFileSync(path, lines.join('\n'));
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'docs/notes.txt', path);
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    assert.equal(outcome.result.route, 'ecs');
    const pdf = await bytesOf(stack.outputBucket, outcome.result.output!.key);
    const { getDocument } = await import('pdfjs-dist/legacy/build/pdf.mjs');
    const doc = await getDocument({ data: new Uint8Array(pdf) }).promise;
    assert.ok(doc.numPages > 1, `${doc.numPages} pages`);
    let text = '';
    for (let p = 1; p <= doc.numPages; p += 1) {
      const content = await (await doc.getPage(p)).getTextContent();
      text += content.items.map((item) => ('str' in item ? item.str : '')).join(' ') + '\n';
    }
    assert.match(text, /docs\/notes\.txt/, 'the title names the key');
    assert.match(text, /Line 150/);
    assert.match(text, /Grüße aus Köln/);
    assert.match(text, /Ελληνικά/);
    await doc.destroy();
  });

  it('gives one workflow and one output for the same notification sent three times', async () => {
    const ref = await putManual('dup/three-times.csv', 'a,b\n1,2\n');
    const body = JSON.stringify({ Records: [s3Record(ref)] });
    await Promise.all([send(body), send(body), send(body)]);
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed');
    // A copy arriving after completion is deleted without a rerun.
    await send(body);
    await eventually('the queue to empty', async () =>
      (await queueDepth(stack.aws.sqs, stack.queueUrl)) === 0 ? true : undefined,
    );
    assert.equal(await executions(workflowIdFor(ref)), 1);
    const output = await stack.aws.s3.send(
      new HeadObjectCommand({ Bucket: stack.outputBucket, Key: 'outputs/dup/three-times.csv' }),
    );
    assert.ok((output.ContentLength ?? 0) > 0);
  });

  it('splits a notification with several records into one workflow per object', async () => {
    const refs = [await putManual('multi/one.csv', 'x\n1\n'), await putManual('multi/two.txt', 'hello')];
    await send(JSON.stringify({ Records: refs.map(s3Record) }));
    for (const ref of refs) {
      const outcome = await awaitWorkflow(client, ref, WAIT_MS);
      assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    }
  });

  it('processes an EventBridge "Object Created" event delivered to SQS', async () => {
    const ref = await putManual('eventbridge/plain key.csv', 'k\nv\n');
    await send(
      JSON.stringify({
        version: '0',
        'detail-type': 'Object Created',
        source: 'aws.s3',
        detail: { bucket: { name: ref.bucket }, object: { key: ref.key, size: ref.size, etag: ref.etag } },
      }),
    );
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
  });

  it('completes an empty CSV with an empty output, since there was nothing to transform', async () => {
    const ref = await putManual('edge/empty.csv', '');
    await send(JSON.stringify({ Records: [s3Record(ref)] }));
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status === 'completed') assert.equal(outcome.result.output?.size, 0);
  });

  it('deletes s3:TestEvent without starting anything', async () => {
    await send(JSON.stringify({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: stack.inputBucket }));
    await eventually('the queue to empty', async () =>
      (await queueDepth(stack.aws.sqs, stack.queueUrl)) === 0 ? true : undefined,
    );
    assert.deepEqual(await drainDeadLetters(), []);
  });

  it('moves an invalid CSV to the dead-letter queue with the reason, and writes no output', async () => {
    const path = join(dir, 'broken.csv');
    writeFileSync(path, 'id,name\n1,"never closed\n2,b\n');
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'bad/broken.csv', path);
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'failed');
    const [dead] = await eventually('the dead letter', async () => {
      const got = await drainDeadLetters();
      return got.length > 0 ? got : undefined;
    });
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.type]?.StringValue, FailureType.invalidInput);
    assert.match(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.reason]?.StringValue ?? '', /line 2/);
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.workflowId]?.StringValue, workflowIdFor(ref));
    assert.match(
      dead?.Body ?? '',
      /broken\.csv/,
      'the original notification travels to the dead-letter queue',
    );
    await assert.rejects(
      stack.aws.s3.send(new HeadObjectCommand({ Bucket: stack.outputBucket, Key: 'outputs/bad/broken.csv' })),
      (err: unknown) => isNotFound(err),
    );
    const report = JSON.parse(
      (await bytesOf(stack.outputBucket, failureReportKey('bad/broken.csv'))).toString('utf8'),
    ) as FailureReport & { workflowId: string };
    assert.equal(report.type, FailureType.invalidInput);
    assert.equal(report.disposition, 'dead-letter');
    assert.equal(report.workflowId, workflowIdFor(ref));
  });

  it('moves a notification for an object that no longer exists to the dead-letter queue', async () => {
    const ghost: ObjectRef = {
      bucket: MANUAL_BUCKET,
      key: 'gone/never-written.csv',
      etag: 'deadbeef',
      size: 1,
    };
    await send(JSON.stringify({ Records: [s3Record(ghost)] }));
    const outcome = await awaitWorkflow(client, ghost, WAIT_MS);
    assert.equal(outcome.status, 'failed');
    const [dead] = await eventually('the dead letter', async () => {
      const got = await drainDeadLetters();
      return got.length > 0 ? got : undefined;
    });
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.type]?.StringValue, FailureType.objectMissing);
  });

  it('never deletes an unusable message: it reaches the dead-letter queue after maxReceiveCount receives', async () => {
    await send('this is not an S3 event');
    const [dead] = await eventually(
      'the unusable message in the dead-letter queue',
      async () => {
        const got = await drainDeadLetters();
        return got.length > 0 ? got : undefined;
      },
      60_000,
    );
    assert.equal(dead?.Body, 'this is not an S3 event');
  });

  it('leaves both queues empty', async () => {
    await eventually('the queue to empty', async () =>
      (await queueDepth(stack.aws.sqs, stack.queueUrl)) === 0 ? true : undefined,
    );
    assert.equal(await queueDepth(stack.aws.sqs, stack.deadLetterQueueUrl), 0);
  });

  it('stops the ingress on SIGTERM with exit code 0, mid long-poll', async () => {
    const ingress = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'ingress/main.ts')], {
      env: { ...process.env, ...stack.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let output = '';
    ingress.stderr.on('data', (d: Buffer) => (output += d.toString()));
    await eventually('the ingress to poll', async () =>
      output.includes(INGRESS_READY_MESSAGE) ? true : undefined,
    );
    const exited = new Promise<number | null>((resolve) => ingress.once('exit', resolve));
    ingress.kill('SIGTERM');
    assert.equal(await exited, 0, output);
  });
});

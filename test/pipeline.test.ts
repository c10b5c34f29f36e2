/**
 * End to end on the real local stack: moto (S3 + SQS with real notifications), a Temporal dev server,
 * and the worker and ingress as processes. Everything crosses a real process boundary.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type Message,
} from '@aws-sdk/client-sqs';
import { GetItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { DLQ_ATTRIBUTES } from '../common/dead-letters';
import type { FailureReport, FileReport } from '../contract/reports';
import {
  failureReportKey,
  INPUT_METADATA,
  OUTPUT_METADATA,
  reportKeyFor,
  STAGING_PREFIX,
} from '../contract/layout';
import { isNotFound } from '../common/aws';
import { workflowIdFor } from '../common/ids';
import { printable } from '../common/text';
import { INGRESS_READY_MESSAGE } from '../ingress/ingress';
import { awaitWorkflow, queueDepth, uploadFile } from '../scripts/pipeline-client';
import { REPO_ROOT } from '../scripts/tools';
import { STACK_NAMES, type Stack } from '../scripts/stack';
import { formatBytes, SA } from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { stagingPrefixFor } from '../activities/staging';
import { billableActions } from '../scripts/billable-actions';
import { AWS_CALL_LOG_DIR } from './support/aws-calls';
import { readRecordedCalls } from './support/iam';
import type { ObjectRef } from '../contract/objects';
import { startEndToEnd, type EndToEnd } from './support/end-to-end';
import { eventually } from './support/eventually';
import { scrape, total } from '../scripts/prometheus';

/**
 * A second input bucket, without notifications: the tests send its notifications themselves, with the
 * versionId S3 puts in them for a versioned bucket such as the deployed input bucket (moto's own leave it out).
 */
const MANUAL_BUCKET = 'pipeline-manual';
/** An input bucket of the configuration that does not exist (deleted, or misnamed). */
const MISSING_BUCKET = 'pipeline-deleted';
const WAIT_MS = 60_000;

let world: EndToEnd;
let stack: Stack;
let client: Client;
let dir: string;
let ingressLog: string[];

before(async () => {
  world = await startEndToEnd('pipeline-test', {
    // Short, so that a message the ingress failed to dead-letter would reach the DLQ quickly by SQS's
    // redrive (without the reason); the workflows extend it at once.
    queueVisibilityTimeoutSeconds: 2,
    env: {
      VISIBILITY_TIMEOUT_SECONDS: '10',
      HEARTBEAT_SECONDS: '1',
      INPUT_BUCKETS: [STACK_NAMES.inputBucket, MANUAL_BUCKET, MISSING_BUCKET].join(','),
    },
  });
  ({ stack, client, dir, ingressLog } = world);
  await stack.aws.s3.send(new CreateBucketCommand({ Bucket: MANUAL_BUCKET }));
  await stack.aws.s3.send(
    new PutBucketVersioningCommand({ Bucket: MANUAL_BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
  );
});

after(() => world?.stop());

async function putManual(key: string, body: string): Promise<ObjectRef> {
  const put = await stack.aws.s3.send(new PutObjectCommand({ Bucket: MANUAL_BUCKET, Key: key, Body: body }));
  return {
    bucket: MANUAL_BUCKET,
    key,
    etag: put.ETag!.replace(/"/g, ''),
    versionId: put.VersionId!,
    size: Buffer.byteLength(body),
  };
}

/** An S3 event record for an object, its key encoded as S3 encodes it. */
function s3Record(ref: ObjectRef) {
  const encoded = encodeURIComponent(ref.key).replace(/%20/g, '+').replace(/%2F/g, '/');
  return {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    eventName: 'ObjectCreated:Put',
    s3: {
      bucket: { name: ref.bucket },
      object: {
        key: encoded,
        size: ref.size,
        eTag: ref.etag,
        ...(ref.versionId ? { versionId: ref.versionId } : {}),
      },
    },
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

/** Waits for the dead-letter queue to hold messages, then receives and deletes them all. */
const deadLettersArrived = () =>
  eventually('the dead letter', async () => {
    const got = await drainDeadLetters();
    return got.length > 0 ? got : undefined;
  });

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

  it('shows the file in the Temporal UI: its summary in the list, its current details, a summary per activity', async () => {
    const key = `ui/${randomUUID()}.csv`;
    const sample = join(REPO_ROOT, 'scripts/samples/transactions.csv');
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, key, sample, {});
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    const handle = client.workflow.getHandle(workflowIdFor(ref));
    const description = await handle.describe();
    assert.equal(
      await description.staticSummary(),
      `${key.slice(3)} · ${formatBytes(statSync(sample).size)} · s3://${stack.inputBucket}/ui/`,
    );
    assert.match(
      (await description.staticDetails()) ?? '',
      /^\*\*Object:\*\* `s3:\/\/.*\*\*Started by:\*\* the ingress/s,
    );
    const metadata = await handle.query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    assert.deepEqual(metadata.currentDetails?.split('  \n'), [
      '**Stage:** done',
      '**Job:** csv-transform · **Route:** inline · **Backend:** inline',
      '**Rows:** 5 in · 5 out · 0 rejected',
      `**Output:** \`s3://${stack.outputBucket}/outputs/${key}\``,
    ]);
    const summaries = ((await handle.fetchHistory()).events ?? [])
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => defaultPayloadConverter.fromPayload<string>(e.userMetadata!.summary!));
    assert.deepEqual(summaries, [
      `inspect s3://${stack.inputBucket}/${key}`,
      'run csv-transform on inline (run 1 of 3)',
      'verify the output, write the report, acknowledge 1 message',
    ]);
  });

  it('runs a small file inline in 3 activities, 2 attribute updates, 8 actions and 5 S3 requests, staging nothing', async () => {
    const key = `lean/${randomUUID()}.csv`;
    const ref = await uploadFile(
      stack.aws.s3,
      stack.inputBucket,
      key,
      join(REPO_ROOT, 'scripts/samples/transactions.csv'),
      {},
    );
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    assert.equal(outcome.result.route, 'inline');
    assert.equal(outcome.result.backend, 'inline');
    const handle = client.workflow.getHandle(workflowIdFor(ref));
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const count = (type: temporal.api.enums.v1.EventType) =>
      events.filter((e) => e.eventType === type).length;
    const { EventType } = temporal.api.enums.v1;
    assert.equal(count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED), 3, 'inspect, run, finish');
    assert.equal(count(EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES), 2);
    const actions = billableActions(history);
    assert.ok(actions.total <= 8, `${actions.total} billable actions: ${JSON.stringify(actions.byType)}`);
    const { typedSearchAttributes } = await handle.describe();
    assert.equal(typedSearchAttributes.get(SA.route), 'inline');
    assert.equal(typedSearchAttributes.get(SA.backend), 'inline');
    assert.equal(typedSearchAttributes.get(SA.stage), 'done');

    // Every S3 request the pipeline's processes made for this file (the test's upload is not recorded).
    const staging = stagingPrefixFor({ bucket: ref.bucket, key, etag: ref.etag! });
    const requests = readRecordedCalls(AWS_CALL_LOG_DIR).filter(
      (c) => c.client === 'S3Client' && [key, staging].some((k) => JSON.stringify(c.input).includes(k)),
    );
    const commands = requests.map((c) => c.command).sort();
    assert.deepEqual(
      commands,
      ['GetObjectCommand', 'GetObjectCommand', 'HeadObjectCommand', 'PutObjectCommand', 'PutObjectCommand'],
      'head the source, read it, write the output and the report, look for a failure report to remove',
    );
    const { KeyCount } = await stack.aws.s3.send(
      new ListObjectsV2Command({ Bucket: stack.outputBucket, Prefix: STAGING_PREFIX }),
    );
    assert.equal(KeyCount ?? 0, 0, 'no staging object for a file that is not chunked');
  });

  it('routes pool to Batch, any other processor type to ECS, inline to the worker, each shown in Route and Backend', async () => {
    const cases = [
      { processorType: 'pool', route: 'batch', backend: 'local' },
      { processorType: 'gpu', route: 'ecs', backend: 'local' },
      { processorType: 'inline', route: 'inline', backend: 'inline' },
    ];
    await Promise.all(
      cases.map(async (c) => {
        const ref = await uploadFile(
          stack.aws.s3,
          stack.inputBucket,
          `routes/${c.processorType}.csv`,
          join(REPO_ROOT, 'scripts/samples/transactions.csv'),
          { processorType: c.processorType },
        );
        const outcome = await awaitWorkflow(client, ref, WAIT_MS);
        assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
        const { typedSearchAttributes } = await client.workflow.getHandle(workflowIdFor(ref)).describe();
        assert.deepEqual(
          [typedSearchAttributes.get(SA.route), typedSearchAttributes.get(SA.backend)],
          [c.route, c.backend],
          c.processorType,
        );
      }),
    );
  });

  it('turns a long UTF-8 text file into a real multi-page PDF, reporting the scripts it cannot show', async () => {
    const lines = Array.from(
      { length: 150 },
      (_, i) => `Line ${i + 1}: Grüße aus Köln, Ελληνικά, Русский — ${'lorem ipsum '.repeat(i % 12)}`,
    );
    lines.push('中文 עברית العربية 😀 and Tamil, which no font has: தமிழ்');
    const path = join(dir, 'notes.txt');
    writeFileSync(path, lines.join('\n'));
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'docs/notes.txt', path);
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    assert.equal(outcome.result.route, 'inline', 'a small file with no processor type');
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
    assert.match(text, /中文/);
    const pages = doc.numPages;
    await doc.destroy();
    const report = JSON.parse(
      (await bytesOf(stack.outputBucket, outcome.result.report!.key)).toString('utf8'),
    ) as FileReport;
    assert.equal(report.pages, pages);
    assert.equal(report.lines, 151);
    assert.deepEqual(report.missingGlyphs, { count: 5, scripts: { Tamil: 5 } });
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
        detail: {
          bucket: { name: ref.bucket },
          object: { key: ref.key, size: ref.size, etag: ref.etag, 'version-id': ref.versionId },
        },
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
    const [dead] = await deadLettersArrived();
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

  it('validates a semicolon-separated file named by x-amz-meta-csv-delimiter, bare quotes read and counted', async () => {
    const text =
      'transaction_id;account_id;transaction_date;amount;currency;merchant;category\n' +
      't1;a1;2025-01-02;12.50;EUR;"Müller; Söhne";tools\n' +
      't2;a2;2025-01-03;3.25;EUR;12" pipe & 3/4" elbow;plumbing\n';
    const path = join(dir, 'semicolon.csv');
    writeFileSync(path, text);
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'dialects/semicolon.csv', path, {
      job: 'csv-validate',
      metadata: { [INPUT_METADATA.csvDelimiter]: ';' },
    });
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    if (outcome.status !== 'completed') return;
    const { result } = outcome;
    assert.equal(
      (await bytesOf(stack.outputBucket, result.output!.key)).toString('utf8'),
      text,
      'every row valid, as it was: the quoted separator is data, the bare quotes too',
    );
    const report = JSON.parse(
      (await bytesOf(stack.outputBucket, reportKeyFor(ref.key, result.processedAt!))).toString('utf8'),
    ) as FileReport;
    assert.deepEqual(report.rows, { in: 2, out: 2, rejected: 0 });
    assert.equal(report.bareQuoteFields, 1);
  });

  it('loads a CSV into DynamoDB: an item per valid row, typed by the schema, and a new version overwrites them', async () => {
    const header = 'transaction_id,account_id,transaction_date,amount,currency,merchant,category\n';
    const valid = Array.from(
      { length: 40 },
      (_, i) =>
        `ddb-${i},acct${i},2025-01-${String((i % 28) + 1).padStart(2, '0')},${i}.50,EUR,Shop ${i},food\n`,
    );
    const rows = (amountOfFirst: string) => [
      `ddb-first,a0,2025-01-02,${amountOfFirst},EUR,,\n`,
      ...valid.slice(1),
      'ddb-bad-date,a1,2025-13-01,1,EUR,X,y\n',
      `ddb-too-precise,a2,2025-01-03,${'9'.repeat(39)},EUR,X,y\n`,
    ];
    const load = async (amountOfFirst: string) => {
      const path = join(dir, 'rows.csv');
      writeFileSync(path, header + rows(amountOfFirst).join(''));
      const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'rows/transactions.csv', path, {
        job: 'csv-to-dynamodb',
      });
      const outcome = await awaitWorkflow(client, ref, WAIT_MS);
      assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
      if (outcome.status !== 'completed') throw new Error('not completed');
      return JSON.parse(
        (await bytesOf(stack.outputBucket, reportKeyFor(ref.key, outcome.result.processedAt!))).toString(
          'utf8',
        ),
      ) as FileReport;
    };
    const count = async () =>
      (
        await stack.aws.dynamodb.send(
          new ScanCommand({
            TableName: stack.table,
            Select: 'COUNT',
            FilterExpression: 'begins_with(transaction_id, :p)',
            ExpressionAttributeValues: { ':p': { S: 'ddb-' } },
          }),
        )
      ).Count;
    const first = await load('12.50');
    assert.deepEqual(first.dynamodb, {
      table: stack.table,
      itemsWritten: 40,
      itemsRetried: 0,
      itemsRejected: 2,
    });
    assert.deepEqual(first.rejectsByRule, { date: 1, number_too_precise: 1 });
    assert.equal(await count(), 40);
    const item = async (id: string) =>
      (
        await stack.aws.dynamodb.send(
          new GetItemCommand({ TableName: stack.table, Key: { transaction_id: { S: id } } }),
        )
      ).Item;
    assert.deepEqual(await item('ddb-first'), {
      transaction_id: { S: 'ddb-first' },
      account_id: { S: 'a0' },
      transaction_date: { S: '2025-01-02' },
      amount: { N: '12.5' },
      currency: { S: 'EUR' },
    });
    // Another version of the file: the same keys, so the same items, one of them changed.
    const second = await load('99.99');
    assert.equal(second.dynamodb?.itemsWritten, 40);
    assert.equal(await count(), 40, 'a reload overwrites, it never adds');
    assert.deepEqual((await item('ddb-first'))?.amount, { N: '99.99' });
  });

  /** Uploads `text` as `key` with `metadata`, and returns the reason of the invalid-input dead letter it becomes. */
  async function deadLetterReason(
    key: string,
    text: string,
    metadata: Record<string, string>,
  ): Promise<string> {
    const path = join(dir, key.replaceAll('/', '-'));
    writeFileSync(path, text);
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, key, path, { metadata });
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'failed');
    const [dead] = await deadLettersArrived();
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.type]?.StringValue, FailureType.invalidInput);
    return dead?.MessageAttributes?.[DLQ_ATTRIBUTES.reason]?.StringValue ?? '';
  }

  it('dead-letters a file whose x-amz-meta-csv-delimiter is no separator, naming the key, the value and the choices', async () => {
    assert.match(
      await deadLetterReason('dialects/colon.csv', 'a:b\n1:2\n', { [INPUT_METADATA.csvDelimiter]: ':' }),
      /x-amz-meta-csv-delimiter is ":", expected ",", ";", "\|" or "tab" \(also "\\t"\)\. Fix the metadata and upload the file again\./,
    );
  });

  it('dead-letters a file whose x-amz-meta-schema names no schema, naming the metadata, the schemas there are and the fix', async () => {
    assert.match(
      await deadLetterReason('dialects/orders.csv', 'id,total\n1,2\n', { [INPUT_METADATA.schema]: 'orders' }),
      /x-amz-meta-schema is "orders", a schema config\/schemas\.json does not have; it has transactions, transactions-eu\. Fix the metadata and upload the file again\./,
    );
  });

  it('aborts the multipart upload of an output that fails past its first part: nothing is left behind', async () => {
    // Over one 8 MiB part of output, then a character after a closing quote on the last line.
    const path = join(dir, 'long-broken.csv');
    writeFileSync(path, `id,name\n${'1,plain\n'.repeat(1_300_000)}2,"x"y\n`);
    const ref = await uploadFile(stack.aws.s3, stack.inputBucket, 'bad/long-broken.csv', path);
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'failed');
    if (outcome.status === 'failed') assert.match(outcome.error, /line 1300002/);
    await drainDeadLetters();
    const { Uploads = [] } = await stack.aws.s3.send(
      new ListMultipartUploadsCommand({ Bucket: stack.outputBucket, Prefix: 'outputs/bad/' }),
    );
    assert.deepEqual(Uploads, [], 'no multipart upload is left open');
    await assert.rejects(
      stack.aws.s3.send(
        new HeadObjectCommand({ Bucket: stack.outputBucket, Key: 'outputs/bad/long-broken.csv' }),
      ),
      (err: unknown) => isNotFound(err),
    );
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
    const [dead] = await deadLettersArrived();
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.type]?.StringValue, FailureType.objectMissing);
  });

  it('reports a notification of a bucket that does not exist as a missing bucket', async () => {
    const ref: ObjectRef = { bucket: MISSING_BUCKET, key: 'gone/any.csv', etag: 'deadbeef', size: 1 };
    await send(JSON.stringify({ Records: [s3Record(ref)] }));
    const outcome = await awaitWorkflow(client, ref, WAIT_MS);
    assert.equal(outcome.status, 'failed');
    if (outcome.status === 'failed') assert.match(outcome.error, /bucket pipeline-deleted does not exist/);
    const [dead] = await deadLettersArrived();
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.type]?.StringValue, FailureType.bucketMissing);
  });

  it('moves an unusable message to the dead-letter queue at once, with its reason', async () => {
    await send('this is not an S3 event');
    const [dead] = await eventually('the unusable message in the dead-letter queue', async () => {
      const got = await drainDeadLetters();
      return got.length > 0 ? got : undefined;
    });
    assert.equal(dead?.Body, 'this is not an S3 event');
    // SQS's own redrive (after 5 receives) would carry no attributes: the ingress moved it, at its first receive.
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.type]?.StringValue, FailureType.unusableMessage);
    assert.match(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.reason]?.StringValue ?? '', /not JSON/);
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.sourceQueue]?.StringValue, stack.queueUrl);
  });

  it('moves a notification of another bucket to the dead-letter queue at once, and processes the rest of it', async () => {
    // The output bucket's own objects: processing them would write outputs/outputs/….
    const foreign: ObjectRef = {
      bucket: stack.outputBucket,
      key: 'outputs/edge/empty.csv',
      etag: 'e0',
      size: 0,
    };
    const ours = await putManual('mixed/ours.csv', 'k\nv\n');
    await send(JSON.stringify({ Records: [s3Record(foreign), s3Record(ours)] }));
    const outcome = await awaitWorkflow(client, ours, WAIT_MS);
    assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
    const [dead, ...more] = await deadLettersArrived();
    assert.equal(more.length, 0);
    assert.equal(dead?.MessageAttributes?.[DLQ_ATTRIBUTES.type]?.StringValue, FailureType.foreignBucket);
    assert.match(
      dead?.MessageAttributes?.[DLQ_ATTRIBUTES.reason]?.StringValue ?? '',
      /not in an input bucket/,
    );
    assert.deepEqual(
      (JSON.parse(dead?.Body ?? '{}') as { Records: unknown[] }).Records,
      [s3Record(foreign)],
      'the dead letter notifies the foreign object alone',
    );
    assert.equal(await executions(workflowIdFor(foreign)), 0, 'no workflow for it');
    await assert.rejects(
      stack.aws.s3.send(
        new HeadObjectCommand({ Bucket: stack.outputBucket, Key: 'outputs/outputs/edge/empty.csv' }),
      ),
      (err: unknown) => isNotFound(err),
    );
  });

  it('never writes raw control characters of a message to its log', async () => {
    // SQS carries CR, LF and C1 controls as they are, and JSON escapes any control character into a key.
    const forged = 'not json\r\n2026-01-01T00:00:00.000Z ERROR [ingress] forged line\u009b2J';
    await send(forged);
    const escapedKey: ObjectRef = {
      bucket: 'elsewhere',
      key: 'a\u001b[31mred\u202e.csv',
      etag: 'e1',
      size: 1,
    };
    await send(JSON.stringify({ Records: [s3Record(escapedKey)] }));
    const dead = await eventually('both dead letters', async () => {
      const got = await drainDeadLetters();
      return got.length > 0 ? got : undefined;
    });
    await eventually('the second dead letter', async () => {
      dead.push(...(await drainDeadLetters()));
      return dead.length >= 2 ? true : undefined;
    });
    const lines = ingressLog.filter((l) => /forged line|red/.test(l));
    assert.ok(lines.length >= 2, ingressLog.join('\n'));
    for (const line of ingressLog) assert.equal(printable(line), line, 'a raw control character in the log');
    assert.ok(!ingressLog.some((l) => l.startsWith('ingress | 2026-01-01')), 'no forged log line');
    assert.ok(lines.some((l) => l.includes('\\r\\n2026-01-01') && l.includes('\\u009b')));
    assert.ok(lines.some((l) => l.includes('a\\u001b[31mred\\u202e.csv')));
    // The reason in the dead letter is printable too (SQS refuses control characters in attributes).
    for (const d of dead) {
      const reason = d.MessageAttributes?.[DLQ_ATTRIBUTES.reason]?.StringValue ?? '';
      assert.equal(printable(reason), reason);
    }
  });

  it('counts every file on the worker\u2019s metrics endpoint, beside the Temporal SDK\u2019s own metrics', async () => {
    const samples = await scrape(stack.metricsUrl);
    // The SDK's: what the dashboard and the scaling read (schedule-to-start latency, task queue polls).
    for (const name of [
      'temporal_workflow_task_schedule_to_start_latency_count',
      'temporal_activity_schedule_to_start_latency_count',
      'temporal_workflow_completed',
    ]) {
      assert.ok(total(samples, name) > 0, name);
    }
    // The pipeline's: files by job, route and outcome (the broken CSV above failed and was dead-lettered).
    assert.ok(
      total(samples, 'pipeline_files', { job: 'csv-transform', route: 'inline', outcome: 'processed' }) > 0,
    );
    assert.ok(total(samples, 'pipeline_files', { outcome: 'failed' }) > 0);
    assert.ok(total(samples, 'pipeline_dead_letters', { type: FailureType.invalidInput }) >= 1);
    const processed =
      total(samples, 'pipeline_files', { outcome: 'processed' }) +
      total(samples, 'pipeline_files', { outcome: 'processed-with-failed-chunks' });
    assert.equal(
      total(samples, 'pipeline_processing_seconds_count'),
      processed,
      'one processing time per file',
    );
    assert.equal(total(samples, 'pipeline_file_seconds_count'), total(samples, 'pipeline_files'));
    assert.ok(total(samples, 'pipeline_bytes') > 0);
    for (const job of ['csv-transform', 'csv-validate', 'csv-to-dynamodb']) {
      const rows = (kind: string) => total(samples, 'pipeline_rows', { job, kind });
      assert.equal(rows('in'), rows('out') + rows('rejected'), `${job}: rows in = out + rejected`);
    }
    assert.ok(total(samples, 'pipeline_rows', { kind: 'in' }) > 0);
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

/**
 * Burst benchmark: N small CSV files (50 rows each) uploaded at once into the local stack (moto, a Temporal
 * dev server, the worker and ingress processes), as most files of a real pipeline are. Not a test: run it by
 * hand with `npm run bench:burst [-- --files N]` (default 1000). See bench/README.md.
 *
 * Measures, in one run: files/s over the burst; p50 and p95 from upload to done (the workflow's close,
 * which comes right after it deleted its SQS message); one file alone (best of 3); billable Temporal actions
 * per file, from the histories; S3 requests per file, from the calls the stack's processes recorded; and the
 * floor: on the same dev server, N no-op workflows with as many activities as a file took, all at once; and
 * the emulator's: N messages drained from a queue of the same moto server, received as the ingress receives.
 * Fails unless every file has exactly one completed run and an output, and both queues are empty.
 * Writes bench/results/burst.json; last line:
 *   files_per_s=… p50_s=… p95_s=… single_s=… actions_per_file=… s3_requests_per_file=… floor_files_per_s=…
 *   receive_floor_files_per_s=…
 */
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { Client, Connection, type WorkflowExecutionInfo } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { RecordedCall } from '../common/aws';
import { workflowIdFor } from '../common/ids';
import { mapLimit } from '../common/parallel';
import { runMain } from '../common/run-main';
import { outputKeyFor } from '../contract/jobs';
import type { ObjectRef } from '../contract/objects';
import { billableActions } from '../scripts/billable-actions';
import { queueDepth } from '../scripts/pipeline-client';
import { startStack, type Stack } from '../scripts/stack';
import { DEFAULTS } from '../contract/defaults';
import { ROOT, writeResults } from './data';
import type { noopWorkflow } from './noop-workflow';

const UPLOADS_IN_FLIGHT = 32;
/** The S3 calls that write an object. */
const OUTPUT_WRITES = new Set(['PutObjectCommand', 'CreateMultipartUploadCommand', 'CopyObjectCommand']);
const TIMEOUT_MS = 30 * 60 * 1000;
const { EventType } = temporal.api.enums.v1;

/** A 50-row CSV of the sample schema, different for each file. */
function csvFile(n: number): string {
  const rows = Array.from({ length: 50 }, (_, i) => {
    const id = String(n * 50 + i).padStart(10, '0');
    const cents = ((n * 7919 + i * 104729) % 100000) - 20000;
    return `tx${id},acct${String(n % 1000).padStart(7, '0')},2025-03-14,${(cents / 100).toFixed(2)},EUR,Merchant ${i},grocery`;
  });
  return `transaction_id,account_id,transaction_date,amount,currency,merchant,category\n${rows.join('\n')}\n`;
}

const seconds = (ms: number) => Number((ms / 1000).toFixed(2));
const percentile = (sorted: readonly number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

async function put(stack: Stack, key: string, n: number): Promise<{ ref: ObjectRef; uploadedAt: number }> {
  const out = await stack.aws.s3.send(
    new PutObjectCommand({ Bucket: stack.inputBucket, Key: key, Body: csvFile(n) }),
  );
  const ref = { bucket: stack.inputBucket, key, etag: out.ETag!.replace(/"/g, '') };
  return { ref, uploadedAt: Date.now() };
}

/** What is left in the queues: visible and in-flight counts, and the keys of the visible messages. */
async function leftInQueues(stack: Stack): Promise<string> {
  const describe = async (name: string, url: string) => {
    const { Attributes: a } = await stack.aws.sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    // Visible messages are looked at without hiding them (VisibilityTimeout 0).
    const { Messages } = await stack.aws.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 0,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    const seen = (Messages ?? []).map((m) => {
      const key = /"key"\s*:\s*"([^"]+)"/.exec(m.Body ?? '')?.[1] ?? m.MessageId;
      return `${key} (received ${m.Attributes?.ApproximateReceiveCount ?? '?'} times)`;
    });
    return (
      `${name}: ${a?.ApproximateNumberOfMessages ?? '?'} visible, ${a?.ApproximateNumberOfMessagesNotVisible ?? '?'} in flight` +
      (seen.length ? ` [${seen.join(', ')}]` : '')
    );
  };
  return [
    await describe('queue', stack.queueUrl),
    await describe('dead-letter queue', stack.deadLetterQueueUrl),
  ].join('; ');
}

/** Every closed or running execution of `query`, by workflow ID (several runs of one ID are duplicates). */
async function executions(client: Client, query: string): Promise<Map<string, WorkflowExecutionInfo[]>> {
  const byId = new Map<string, WorkflowExecutionInfo[]>();
  for await (const e of client.workflow.list({ query })) {
    byId.set(e.workflowId, [...(byId.get(e.workflowId) ?? []), e]);
  }
  return byId;
}

/** Waits until `count` executions of `query` are closed. */
async function closed(client: Client, query: string, count: number): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  for (;;) {
    const { count: done } = await client.workflow.count(`${query} AND ExecutionStatus != "Running"`);
    if (done >= count) return;
    if (Date.now() > deadline) throw new Error(`only ${done} of ${count} workflows closed in time`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** An S3 event notification of `key`, shaped and sized as S3 sends one. */
function notificationOf(stack: Stack, key: string): string {
  const record = {
    eventVersion: '2.1',
    eventSource: 'aws:s3',
    awsRegion: 'us-east-1',
    eventTime: new Date().toISOString(),
    eventName: 'ObjectCreated:Put',
    userIdentity: { principalId: 'AWS:AIDAEXAMPLEPRINCIPAL' },
    requestParameters: { sourceIPAddress: '127.0.0.1' },
    responseElements: {
      'x-amz-request-id': 'C3D13FE58DE4C810',
      'x-amz-id-2': 'FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD',
    },
    s3: {
      s3SchemaVersion: '1.0',
      configurationId: 'pipeline-input-events',
      bucket: {
        name: stack.inputBucket,
        ownerIdentity: { principalId: 'A3NL1KOZZKExample' },
        arn: `arn:aws:s3:::${stack.inputBucket}`,
      },
      object: { key, size: 4096, eTag: '0123456789abcdef0123456789abcdef', sequencer: '0A1B2C3D4E5F678901' },
    },
  };
  return JSON.stringify({ Records: [record] });
}

/**
 * The emulator's floor: `count` messages the size of a notification, sent to a queue of their own on the
 * same moto server and drained by one consumer receiving ten at a time as the ingress does (visibility,
 * attributes), deleting each ten at once. Messages per second from the first receive to the last delete.
 */
async function receiveFloor(stack: Stack, count: number, body: string): Promise<number> {
  const { sqs } = stack.aws;
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: `bench-drain-${Date.now()}` }));
  try {
    await mapLimit(
      Array.from({ length: Math.ceil(count / 10) }, (_, i) => i),
      8,
      (i) =>
        sqs.send(
          new SendMessageBatchCommand({
            QueueUrl,
            Entries: Array.from({ length: Math.min(10, count - i * 10) }, (_, j) => ({
              Id: String(j),
              MessageBody: body,
            })),
          }),
        ),
    );
    const started = Date.now();
    for (let drained = 0; drained < count;) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: DEFAULTS.visibilityTimeoutSeconds,
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
      );
      if (Messages.length === 0) throw new Error(`receive floor: ${count - drained} messages not received`);
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl,
          Entries: Messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
      drained += Messages.length;
    }
    return count / ((Date.now() - started) / 1000);
  } finally {
    await sqs.send(new DeleteQueueCommand({ QueueUrl }));
  }
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--files');
  const files = at >= 0 ? Number(process.argv[at + 1]) : 1000;
  if (!Number.isInteger(files) || files < 1)
    throw new Error('--files takes a whole number of files, e.g. --files 1000');
  const callLog = mkdtempSync(path.join(ROOT, '.data', 'bench-calls-'));
  // The stack's own output, for a failed run (kept with the recorded calls when the bench fails).
  const stackLog = `${callLog}.log`;
  const stack = await startStack({
    env: { AWS_CALL_LOG_DIR: callLog },
    log: (line) => appendFileSync(stackLog, `${line}\n`),
  });
  let failed = true;
  const connection = await Connection.connect({ address: stack.temporalAddress });
  const client = new Client({ connection, namespace: stack.namespace });
  try {
    const query = (prefix: string) => `WorkflowType = "processFile" AND ObjectKey STARTS_WITH "${prefix}"`;

    // One file alone, three times: upload done → workflow closed (the message deleted), as for the burst.
    const single: number[] = [];
    const singles: ObjectRef[] = [];
    for (let i = 0; i < 3; i++) {
      const { ref, uploadedAt } = await put(stack, `single/${i}.csv`, 1_000_000 + i);
      singles.push(ref);
      const handle = client.workflow.getHandle(workflowIdFor(ref));
      const deadline = Date.now() + 5 * 60 * 1000;
      for (;;) {
        const described = await handle.describe().catch(() => undefined);
        if (described?.closeTime) {
          single.push(described.closeTime.getTime() - uploadedAt);
          break;
        }
        if (Date.now() > deadline)
          throw new Error(`lost: ${ref.key}, uploaded alone, has no closed workflow`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    // The burst.
    const keys = Array.from({ length: files }, (_, i) => `burst/${String(i).padStart(5, '0')}.csv`);
    const burstStarted = Date.now();
    const uploads = await mapLimit(keys, UPLOADS_IN_FLIGHT, (key, i) => put(stack, key, i));
    await closed(client, query('burst/'), files);
    const runs = await executions(client, query('burst/'));
    const latencies: number[] = [];
    /** Upload → workflow started (notification, ingress) and started → closed (the workflow), per file. */
    const handOver: number[] = [];
    const inWorkflow: number[] = [];
    const problems: string[] = [];
    let lastClose = 0;
    for (const { ref, uploadedAt } of uploads) {
      const found = runs.get(workflowIdFor(ref)) ?? [];
      if (found.length === 0) problems.push(`lost: ${ref.key} has no workflow`);
      if (found.length > 1) problems.push(`duplicate: ${ref.key} has ${found.length} runs`);
      const run = found[0];
      if (!run) continue;
      if (run.status.name !== 'COMPLETED') problems.push(`lost: ${ref.key}'s workflow is ${run.status.name}`);
      const closeTime = run.closeTime?.getTime() ?? uploadedAt;
      lastClose = Math.max(lastClose, closeTime);
      latencies.push(closeTime - uploadedAt);
      handOver.push(run.startTime.getTime() - uploadedAt);
      inWorkflow.push(closeTime - run.startTime.getTime());
    }
    // The three files uploaded alone are checked like the burst's.
    const singleRuns = await executions(client, query('single/'));
    for (const ref of singles) {
      const found = singleRuns.get(workflowIdFor(ref)) ?? [];
      if (found.length !== 1) problems.push(`duplicate: ${ref.key} (alone) has ${found.length} runs`);
      for (const run of found)
        if (run.status.name !== 'COMPLETED')
          problems.push(`lost: ${ref.key}'s workflow is ${run.status.name}`);
    }
    const missing = await mapLimit([...singles.map((ref) => ({ ref })), ...uploads], 16, async ({ ref }) =>
      stack.aws.s3
        .send(
          new HeadObjectCommand({ Bucket: stack.outputBucket, Key: outputKeyFor(ref.key, 'csv-transform') }),
        )
        .then(
          () => undefined,
          () => ref.key,
        ),
    );
    for (const key of missing) if (key) problems.push(`lost: ${key} has no output`);
    // A message whose deletion moto lost comes back once its visibility timeout has run out, and the ingress
    // deletes it as already processed: moto's DeleteMessage rebuilds the queue's message list without a lock,
    // so two deletions at once can resurrect one of them. The queues are given that long to empty.
    const depths = () =>
      Promise.all([
        queueDepth(stack.aws.sqs, stack.queueUrl),
        queueDepth(stack.aws.sqs, stack.deadLetterQueueUrl),
      ]);
    let [queued, dead] = await depths();
    const emptyBy = Date.now() + (DEFAULTS.visibilityTimeoutSeconds + 30) * 1000;
    while (queued + dead > 0 && Date.now() < emptyBy) {
      await new Promise((r) => setTimeout(r, 500));
      [queued, dead] = await depths();
    }
    if (queued + dead > 0) problems.push(`queues not empty: ${await leftInQueues(stack)}`);

    // Actions and activities per file, from every history of the burst.
    const byType: Record<string, number> = {};
    let actions = 0;
    let activities = 0;
    await mapLimit([...runs.values()].flat(), 16, async (run) => {
      const history = await client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
      const counted = billableActions(history);
      actions += counted.total;
      for (const [type, n] of Object.entries(counted.byType)) byType[type] = (byType[type] ?? 0) + n;
      activities += (history.events ?? []).filter(
        (e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
      ).length;
    });

    // S3 requests the stack's processes made for the burst's files (the bench's own uploads are not recorded).
    const s3Calls = readdirSync(callLog)
      .flatMap((f) => readFileSync(path.join(callLog, f), 'utf8').split('\n').filter(Boolean))
      .map((line) => JSON.parse(line) as RecordedCall)
      .filter((c) => c.client === 'S3Client' && JSON.stringify(c.input).includes('burst/'));
    const s3Requests = s3Calls.length;
    const s3ByCommand: Record<string, number> = {};
    for (const c of s3Calls) s3ByCommand[c.command] = (s3ByCommand[c.command] ?? 0) + 1;
    // An object processed twice has its output written twice.
    const outputWrites = new Map<string, number>();
    for (const c of s3Calls) {
      if (!OUTPUT_WRITES.has(c.command) || c.input.Bucket !== stack.outputBucket) continue;
      const key = String(c.input.Key);
      outputWrites.set(key, (outputWrites.get(key) ?? 0) + 1);
    }
    for (const { ref } of uploads) {
      const writes = outputWrites.get(outputKeyFor(ref.key, 'csv-transform')) ?? 0;
      if (writes > 1)
        problems.push(`duplicate: ${ref.key} processed ${writes} times (its output written ${writes} times)`);
    }

    // The floor: no-op workflows with as many activities, all started at once, on the same dev server.
    const perFile = Math.round(activities / files);
    const native = await NativeConnection.connect({ address: stack.temporalAddress });
    const floorQueue = 'bench-noop';
    const worker = await Worker.create({
      connection: native,
      namespace: stack.namespace,
      taskQueue: floorQueue,
      workflowsPath: require.resolve('./noop-workflow'),
      activities: { noop: async () => {} },
    });
    const floor = await worker.runUntil(async () => {
      const started = Date.now();
      const handles = await mapLimit(keys, 64, (_, i) =>
        client.workflow.start<typeof noopWorkflow>('noopWorkflow', {
          workflowId: `noop-${i}-${started}`,
          taskQueue: floorQueue,
          args: [perFile],
        }),
      );
      await mapLimit(handles, 64, (h) => h.result());
      await closed(client, `WorkflowType = "noopWorkflow"`, files); // visibility lags a little behind
      // Measured as the burst is: from the first start to the last close, as Temporal recorded it.
      const floorRuns = [...(await executions(client, `WorkflowType = "noopWorkflow"`)).values()].flat();
      const completed = floorRuns.filter((r) => r.status.name === 'COMPLETED' && r.closeTime);
      if (completed.length !== files)
        problems.push(`floor: ${completed.length} of ${files} no-op workflows completed`);
      return {
        seconds: (Math.max(...completed.map((r) => r.closeTime!.getTime())) - started) / 1000,
        // From the moment all were asked for: what a file would wait with nothing to do but the workflow.
        latencies: completed.map((r) => r.closeTime!.getTime() - started).sort((a, b) => a - b),
      };
    });
    await native.close();
    const receiveFloorPerSecond = await receiveFloor(stack, files, notificationOf(stack, keys[0]!));

    const sorted = [...latencies].sort((a, b) => a - b);
    const result = {
      files_per_s: Number((files / ((lastClose - burstStarted) / 1000)).toFixed(2)),
      p50_s: seconds(percentile(sorted, 50)),
      p95_s: seconds(percentile(sorted, 95)),
      single_s: seconds(Math.min(...single)),
      actions_per_file: Number((actions / files).toFixed(2)),
      s3_requests_per_file: Number((s3Requests / files).toFixed(2)),
      floor_files_per_s: Number((files / floor.seconds).toFixed(2)),
      receive_floor_files_per_s: Number(receiveFloorPerSecond.toFixed(2)),
    };
    const summary = {
      date: new Date().toISOString(),
      files,
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? null, node: process.version },
      ...result,
      ratioToFloor: Number((result.files_per_s / result.floor_files_per_s).toFixed(2)),
      ratioToReceiveFloor: Number((result.files_per_s / result.receive_floor_files_per_s).toFixed(2)),
      activitiesPerFile: perFile,
      actionsByType: Object.fromEntries(
        Object.entries(byType).map(([type, n]) => [type, Number((n / files).toFixed(2))]),
      ),
      singleSeconds: single.map(seconds),
      floorP50Seconds: seconds(percentile(floor.latencies, 50)),
      p50HandOverSeconds: seconds(
        percentile(
          [...handOver].sort((a, b) => a - b),
          50,
        ),
      ),
      p50WorkflowSeconds: seconds(
        percentile(
          [...inWorkflow].sort((a, b) => a - b),
          50,
        ),
      ),
      s3RequestsByCommand: Object.fromEntries(
        Object.entries(s3ByCommand).map(([command, n]) => [command, Number((n / files).toFixed(2))]),
      ),
      deletionTime: "the workflow's close time in Temporal (it deletes the message as its last step)",
      problems: problems.length,
    };
    console.log(JSON.stringify(summary, null, 2));
    await writeResults('burst', summary);
    if (problems.length > 0) {
      throw new Error(`${problems.length} problem(s): ${problems.slice(0, 10).join('; ')}`);
    }
    console.log(
      Object.entries(result)
        .map(([k, v]) => `${k}=${v.toFixed(2)}`)
        .join(' '),
    );
    failed = false;
  } finally {
    await connection.close();
    await stack.stop();
    if (failed) {
      process.stderr.write(
        `kept for a look: ${callLog} (recorded AWS calls), ${stackLog} (the stack's output)\n`,
      );
    } else {
      rmSync(callLog, { recursive: true, force: true });
      rmSync(stackLog, { force: true });
    }
  }
}

runMain('bench:burst', main);

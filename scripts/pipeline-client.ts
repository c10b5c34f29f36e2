/**
 * What the scripts and tests do to a running pipeline: connect to its Temporal, upload a file, find and await
 * its workflow, count queues and table items.
 */
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { ScanCommand, type AttributeValue, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { Upload } from '@aws-sdk/lib-storage';
import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { loadConfig, TEMPORAL_ENV } from '../common/config';
import { workflowIdFor } from '../common/ids';
import { isTemporalConnectionVariable, temporalConnection, temporalUnreachable } from '../common/temporal';
import type { ProcessFileResult } from '../contract/workflow';
import type { ObjectRef } from '../contract/objects';
import { STACK_FILE, type RunningStack } from './stack';

/** The stack of `npm run dev`, when it runs and neither TEMPORAL_ADDRESS nor TEMPORAL_PROFILE points elsewhere. */
export function runningStack(): RunningStack | undefined {
  return !process.env.TEMPORAL_ADDRESS && !process.env.TEMPORAL_PROFILE && existsSync(STACK_FILE)
    ? (JSON.parse(readFileSync(STACK_FILE, 'utf8')) as RunningStack)
    : undefined;
}

/**
 * A client of the pipeline's Temporal: configured like the worker (TEMPORAL_ADDRESS, TEMPORAL_PROFILE, …),
 * or the stack of `npm run dev` when neither is set and that stack is running (then with the stack's
 * settings only: no inherited API key or TLS setting).
 */
export async function pipelineClient(component: string) {
  const stack = runningStack();
  if (stack) {
    for (const name of Object.keys(process.env))
      if (isTemporalConnectionVariable(name)) delete process.env[name];
    for (const [name, value] of Object.entries(stack.env))
      if (name.startsWith('TEMPORAL_')) process.env[name] = value;
  }
  const config = loadConfig(component, [...TEMPORAL_ENV]);
  const { connectionOptions, namespace } = temporalConnection();
  const connection = await Connection.connect(connectionOptions).catch((err: Error) => {
    throw temporalUnreachable(connectionOptions.address, err);
  });
  return { client: new Client({ connection, namespace }), connection, config, namespace, stack };
}

export interface UploadOptions {
  /** `pool` routes to AWS Batch; anything else to ECS. */
  processorType?: string;
  /** Overrides the job chosen from the key's extension. */
  job?: string;
  /** Further `x-amz-meta-*` metadata, e.g. `chunk-size` or `max-concurrency`. */
  metadata?: Record<string, string>;
}

/** Uploads a local file (streamed, multipart when large) with the routing metadata; returns what S3 notifies. */
export async function uploadFile(
  s3: S3Client,
  bucket: string,
  key: string,
  path: string,
  options: UploadOptions = {},
): Promise<ObjectRef> {
  statSync(path);
  const metadata = {
    ...options.metadata,
    ...(options.processorType ? { 'processor-type': options.processorType } : {}),
    ...(options.job ? { job: options.job } : {}),
  };
  await new Upload({
    client: s3,
    params: { Bucket: bucket, Key: key, Body: createReadStream(path), Metadata: metadata },
  }).done();
  const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
  return {
    bucket,
    key,
    etag: (head.ETag ?? '').replace(/"/g, ''),
    ...(head.VersionId && head.VersionId !== 'null' ? { versionId: head.VersionId } : {}),
    size: head.ContentLength ?? 0,
  };
}

export type WorkflowOutcome =
  | { status: 'completed'; workflowId: string; result: ProcessFileResult; seconds: number }
  | { status: 'failed'; workflowId: string; error: string; seconds: number }
  | { status: 'timed-out'; workflowId: string };

/**
 * Waits for the workflow of an object version: it exists once the ingress has handed the notification
 * over, so a missing workflow is waited for too, until the deadline.
 */
export async function awaitWorkflow(
  client: Client,
  ref: ObjectRef,
  timeoutMs: number,
): Promise<WorkflowOutcome> {
  const workflowId = workflowIdFor(ref);
  const deadline = Date.now() + timeoutMs;
  let delay = 100;
  const handle = client.workflow.getHandle(workflowId);
  const seconds = async () => {
    const { startTime, closeTime } = await handle.describe();
    return ((closeTime ?? new Date()).getTime() - startTime.getTime()) / 1000;
  };
  while (Date.now() < deadline) {
    try {
      const result = (await handle.result()) as ProcessFileResult;
      return { status: 'completed', workflowId, result, seconds: await seconds() };
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const cause = err.cause;
        return {
          status: 'failed',
          workflowId,
          error: cause?.message ?? err.message,
          seconds: await seconds(),
        };
      }
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 1000);
  }
  return { status: 'timed-out', workflowId };
}

/** Visible plus in-flight messages of a queue. */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** The items of a DynamoDB table, counted with paginated Scans (Select COUNT). */
export async function tableItemCount(dynamodb: DynamoDBClient, table: string): Promise<number> {
  let count = 0;
  let start: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamodb.send(
      new ScanCommand({ TableName: table, Select: 'COUNT', ExclusiveStartKey: start }),
    );
    count += page.Count ?? 0;
    start = page.LastEvaluatedKey;
  } while (start);
  return count;
}

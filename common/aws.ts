/** AWS SDK clients, built one way for every process (emulator endpoint, path-style, adaptive retry). */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BatchClient } from '@aws-sdk/client-batch';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { InitializeMiddleware, MiddlewareStack } from '@smithy/types';

/** What the clients need to know; see `AWS_REGION`, `AWS_ENDPOINT_URL` and `AWS_CALL_LOG_DIR` in ./config. */
export interface AwsSettings {
  AWS_REGION: string;
  /** An emulator endpoint such as moto's; path-style addressing is used with it. */
  AWS_ENDPOINT_URL?: string | undefined;
  /** Where every call is recorded, for the permission proof of the tests (see {@link RecordedCall}). */
  AWS_CALL_LOG_DIR?: string | undefined;
}

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  dynamodb: DynamoDBClient;
  batch: BatchClient;
  ecs: ECSClient;
}

/**
 * The processes whose AWS calls the IAM roles of infra/ must allow; `inline` is a processor run on the worker's
 * own threads (activities/inline-backend.ts), whose calls the worker's role must allow.
 */
export type Component = 'ingress' | 'worker' | 'processor' | 'inline' | 'console';

/**
 * One AWS API call as `AWS_CALL_LOG_DIR` records it: which process made it, and its input as sent (streamed
 * bodies and binary values left out, long strings cut). The output's top-level identifiers (a submitted
 * job's ID) are kept too, so that later calls on what it created can be told apart.
 */
export interface RecordedCall {
  component: Component;
  region: string;
  /** The client, e.g. `S3Client`. */
  client: string;
  /** The command, e.g. `CopyObjectCommand`. */
  command: string;
  input: Record<string, unknown>;
  output?: Record<string, string>;
}

const MAX_RECORDED_STRING = 2048;

/** A JSON copy of `value` without what is not plain data (streams, buffers, dates). */
function plain(value: unknown): unknown {
  if (typeof value === 'string')
    return value.length > MAX_RECORDED_STRING ? value.slice(0, MAX_RECORDED_STRING) : value;
  if (typeof value === 'number' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value).flatMap(([k, v]) => {
        const copy = plain(v);
        return copy === undefined ? [] : [[k, copy]];
      }),
    );
  }
  return undefined;
}

/** Appends each call the client sends to `COMPONENT-PID.jsonl` in `dir`. */
function recordCalls(
  stack: MiddlewareStack<object, object>,
  dir: string,
  component: Component,
  region: string,
) {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${component}-${process.pid}.jsonl`);
  // A call that fails was still made, and needed its permission: it is recorded either way.
  const record: InitializeMiddleware<object, object> = (next, context) => async (args) => {
    const { clientName, commandName } = context as { clientName: string; commandName: string };
    const call: RecordedCall = {
      component,
      region,
      client: clientName,
      command: commandName,
      input: plain(args.input) as Record<string, unknown>,
    };
    try {
      const result = await next(args);
      call.output = Object.fromEntries(
        Object.entries(result.output).filter((e): e is [string, string] => typeof e[1] === 'string'),
      );
      return result;
    } finally {
      appendFileSync(file, `${JSON.stringify(call)}\n`);
    }
  };
  stack.add(record, { step: 'initialize', name: 'recordAwsCall' });
}

/**
 * The clients of one process. `component` names it in the calls recorded with `AWS_CALL_LOG_DIR`; the
 * project's tools (stack launcher, upload) are no part of the deployment and pass none.
 */
export function createAwsClients(settings: AwsSettings, component?: Component): AwsClients {
  const common = {
    region: settings.AWS_REGION,
    retryMode: 'adaptive',
    maxAttempts: 5,
    ...(settings.AWS_ENDPOINT_URL ? { endpoint: settings.AWS_ENDPOINT_URL } : {}),
  };
  const clients: AwsClients = {
    s3: new S3Client({ ...common, forcePathStyle: Boolean(settings.AWS_ENDPOINT_URL) }),
    sqs: new SQSClient(common),
    dynamodb: new DynamoDBClient(common),
    batch: new BatchClient(common),
    ecs: new ECSClient(common),
  };
  if (settings.AWS_CALL_LOG_DIR && component) {
    for (const { middlewareStack } of [
      clients.s3,
      clients.sqs,
      clients.dynamodb,
      clients.batch,
      clients.ecs,
    ]) {
      const stack = middlewareStack as unknown as MiddlewareStack<object, object>;
      recordCalls(stack, settings.AWS_CALL_LOG_DIR, component, settings.AWS_REGION);
    }
  }
  return clients;
}

/** Parses `s3://bucket/key`, or returns undefined for anything else. */
export function parseS3Uri(uri: string): { bucket: string; key: string } | undefined {
  const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(uri);
  return match ? { bucket: match[1]!, key: match[2]! } : undefined;
}

/** True for an S3 "not found" answer (HeadObject gives a bare 404, GetObject `NoSuchKey`). */
export function isNotFound(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** True for S3's answer that the bucket itself does not exist (a GET or PUT says so; a HEAD cannot). */
export function isNoSuchBucket(err: unknown): boolean {
  return (err as { name?: string } | undefined)?.name === 'NoSuchBucket';
}

/** True for an S3 "precondition failed" answer: the object is no longer the expected version. */
export function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

/**
 * User metadata as S3 takes it. It travels in HTTP headers, which only carry ASCII: other values are sent
 * RFC 2047 encoded (`=?UTF-8?B?…?=`), which S3 documents for non-ASCII metadata and returns in the same form.
 */
export function s3Metadata(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(metadata).map(([name, value]) => [
      name,
      /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`,
    ]),
  );
}

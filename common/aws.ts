/** AWS SDK clients, built one way for every process (emulator endpoint, path-style, adaptive retry). */
import { BatchClient } from '@aws-sdk/client-batch';
import { ECSClient } from '@aws-sdk/client-ecs';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';

/** What the clients need to know; see `AWS_REGION` and `AWS_ENDPOINT_URL` in ./config. */
export interface AwsSettings {
  AWS_REGION: string;
  /** An emulator endpoint such as moto's; path-style addressing is used with it. */
  AWS_ENDPOINT_URL?: string | undefined;
}

export interface AwsClients {
  s3: S3Client;
  sqs: SQSClient;
  batch: BatchClient;
  ecs: ECSClient;
}

export function createAwsClients(settings: AwsSettings): AwsClients {
  const common = {
    region: settings.AWS_REGION,
    retryMode: 'adaptive',
    maxAttempts: 5,
    ...(settings.AWS_ENDPOINT_URL ? { endpoint: settings.AWS_ENDPOINT_URL } : {}),
  };
  return {
    s3: new S3Client({ ...common, forcePathStyle: Boolean(settings.AWS_ENDPOINT_URL) }),
    sqs: new SQSClient(common),
    batch: new BatchClient(common),
    ecs: new ECSClient(common),
  };
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

/** True for an S3 "precondition failed" answer: the object is no longer the expected version. */
export function isPreconditionFailed(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | undefined;
  return e?.name === 'PreconditionFailed' || e?.$metadata?.httpStatusCode === 412;
}

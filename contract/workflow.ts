/**
 * The contract of the `processFile` workflow: its input, result, signal, query and search attributes.
 * Shared by the workflow, the worker, the ingress, the scripts and the tests, so no name is written twice.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { SearchAttributePair } from '@temporalio/common';
import type { ObjectRef } from './objects';

/** One SQS message that notified the object; the workflow deletes it once the output is verified. */
export interface QueueMessage {
  queueUrl: string;
  messageId: string;
  /** The receipt handle of the latest receive: only that one reliably deletes the message. */
  receiptHandle: string;
  receiveCount: number;
  /** The original body, kept so that a permanent failure can move it to the dead-letter queue. */
  body: string;
}

/** Tunables of one run; the ingress fills them from its configuration. */
export interface ProcessFileOptions {
  /**
   * How long each extension keeps the message invisible; the workflow extends every third of it.
   * @default 300: `DEFAULTS.visibilityTimeoutSeconds` of contract/defaults.ts
   */
  visibilityTimeoutSeconds?: number;
  /**
   * Longest time one processor run may take: then it is stopped, and counts as a failed run.
   * @default 3600: `DEFAULTS.computeTimeoutSeconds` of contract/defaults.ts
   */
  computeTimeoutSeconds?: number;
  /**
   * Runs of the processor a file gets when it fails (a non-zero exit, a stopped job, the time limit), and
   * the first backoff (exponential, factor 2). Interrupted attempts (a worker crash or deploy) do not count:
   * Temporal retries them on their own, resuming the job.
   * @default 3 runs, 5 s: `DEFAULTS.computeRetry` of contract/defaults.ts
   */
  computeRetry?: { maximumAttempts: number; initialIntervalSeconds: number };
  /**
   * How long the compute activity may go without a heartbeat before Temporal retries it elsewhere
   * (a retried attempt resumes the job already submitted).
   * @default 60: `DEFAULTS.heartbeatTimeoutSeconds` of contract/defaults.ts
   */
  heartbeatTimeoutSeconds?: number;
  /**
   * Files no larger than this, with no `processor-type`, run inline: on the worker, in its thread pool, with
   * no container to start. 0 turns the inline route off.
   * @default 4 MiB: `DEFAULTS.inlineMaxBytes` of contract/defaults.ts
   */
  inlineMaxBytes?: number;
  /**
   * CSV files larger than this are split into chunks of about this size, processed in parallel
   * (object metadata `chunk-size` overrides: bytes, or a number with KiB, MiB or GiB).
   * @default 64 MiB: `DEFAULTS.chunkSizeBytes` of contract/defaults.ts
   */
  chunkSizeBytes?: number;
  /**
   * Chunks processed at the same time (metadata `max-concurrency`).
   * @default 10: `DEFAULTS.maxConcurrentChunks` of contract/defaults.ts
   */
  maxConcurrentChunks?: number;
  /**
   * Failed chunks (after their retries) tolerated before the file fails, as a count and as a percentage of
   * the chunks (metadata `tolerated-failure-count` / `tolerated-failure-percent`); the file fails when
   * either is exceeded. When neither is set, none is tolerated (as in Step Functions' Distributed Map).
   */
  toleratedFailureCount?: number;
  toleratedFailurePercent?: number;
  /**
   * Chunks per child workflow: keeps every history far below Temporal's limits (10,000 chunks make 10
   * children of a few thousand events each).
   * @default 1000: `DEFAULTS.chunksPerChildWorkflow` of contract/defaults.ts
   */
  chunksPerChildWorkflow?: number;
}

/** The task queue of the compute activity: its own, so workers can bound concurrent jobs and the submit rate. */
export function computeTaskQueue(taskQueue: string): string {
  return `${taskQueue}-compute`;
}

/**
 * The task queue of inline runs: its own, polled by each worker with as many slots as its thread pool has
 * threads, so that a burst of small files waits in Temporal rather than on a worker's CPU.
 */
export function inlineTaskQueue(taskQueue: string): string {
  return `${taskQueue}-inline`;
}

export interface ProcessFileInput {
  object: ObjectRef;
  options?: ProcessFileOptions;
}

/** How one chunk went. */
export interface ChunkOutcome {
  index: number;
  status: 'done' | 'reused' | 'failed';
  seconds?: number;
  /** The backend that ran it: `inline`, `local`, `batch` or `ecs`. */
  backend?: string;
  /** The backend's ID of the run: Batch job ID, ECS task ARN, local process ID. */
  runId?: string;
  error?: string;
  /** The chunk's input is invalid: rerunning cannot help. */
  permanent?: boolean;
}

/** Chunk counts of a file, in the `progress` query, the search attributes and the report. */
export interface ChunkCounts {
  total: number;
  /** Processed by this run. */
  done: number;
  /** Left finished by an earlier run (redrive, or a rerun of the same version), not run again. */
  reused: number;
  failed: number;
}

/**
 * `pool` files go to AWS Batch on Fargate Spot, `inline` ones (and small files with no processor type) to the
 * worker's own thread pool, the others to an ECS Fargate task.
 */
export type Route = 'batch' | 'ecs' | 'inline';

export type Stage =
  | 'received'
  | 'inspecting'
  | 'planning'
  | 'processing'
  | 'merging'
  | 'verifying'
  | 'done'
  | 'skipped'
  | 'failed';

export interface Progress {
  stage: Stage;
  route?: Route;
  processorType?: string;
  job?: string;
  /** The backend that ran the file: `inline`, `local`, `batch` or `ecs`. */
  backend?: string;
  /** Why the file left its route, e.g. a Batch job that found no capacity and went to ECS. */
  rerouted?: string;
  /** The SubmitJob or RunTask input of the run (what AWS received, or would have in local mode). */
  awsRequest?: object;
  output?: string;
  /** How many SQS messages (notifications) this run is answering for. */
  messages: number;
  /** A chunked file's chunks. */
  chunks?: ChunkCounts;
  /** CSV jobs, once the run is over: data rows read, written and rejected. */
  rows?: { in: number; out: number; rejected: number };
  /** Why the file failed or was skipped: the failure type and its message, which says what to do. */
  failure?: { type: string; message: string };
}

export interface ProcessFileResult {
  status: 'processed' | 'skipped';
  object: ObjectRef;
  reason?: string;
  route?: Route;
  processorType?: string;
  job?: string;
  /** The backend that ran the file: `inline`, `local`, `batch` or `ecs` (a chunked file: most of its chunks). */
  backend?: string;
  /** The backend's ID of the run of a whole file: Batch job ID, ECS task ARN, local process ID. */
  runId?: string;
  rerouted?: string;
  awsRequest?: object;
  output?: { bucket: string; key: string; size: number };
  processedAt?: string;
  /** What the processor reported (row or page counts). */
  stats?: Record<string, number>;
  /** A chunked file's chunks; `failed` ones were tolerated and can be redriven. */
  chunks?: ChunkCounts;
  /** The file's JSON report in the output bucket. */
  report?: { bucket: string; key: string };
  messagesAcknowledged: number;
}

/** The workflow type of a file: processFile of workflows/process-file.ts, named where its code cannot be imported. */
export const PROCESS_FILE_WORKFLOW = 'processFile';

export const messageReceivedSignal = defineSignal<[QueueMessage]>('messageReceived');
/** From a child workflow to its file's workflow: chunks finished since its last signal. */
export const chunkProgressSignal = defineSignal<[Omit<ChunkCounts, 'total'>]>('chunkProgress');
export const progressQuery = defineQuery<Progress>('progress');

/** Search attributes: filter the UI or `temporal workflow list --query 'ProcessorType="pool"'`. */
export const SA = {
  bucket: defineSearchAttributeKey('Bucket', SearchAttributeType.KEYWORD),
  objectKey: defineSearchAttributeKey('ObjectKey', SearchAttributeType.KEYWORD),
  objectSize: defineSearchAttributeKey('ObjectSize', SearchAttributeType.INT),
  processorType: defineSearchAttributeKey('ProcessorType', SearchAttributeType.KEYWORD),
  /** The route chosen: batch, ecs or inline. */
  route: defineSearchAttributeKey('Route', SearchAttributeType.KEYWORD),
  /** The backend that ran the file: batch, ecs, inline, or local (a process standing in for Batch or ECS). */
  backend: defineSearchAttributeKey('Backend', SearchAttributeType.KEYWORD),
  job: defineSearchAttributeKey('Job', SearchAttributeType.KEYWORD),
  stage: defineSearchAttributeKey('Stage', SearchAttributeType.KEYWORD),
  /*
   * Counts of a workflow's items: a file's chunks (processFile), a reprocess run's files (reprocess). Shared,
   * because SQL visibility stores (the dev server, self-hosted SQL) hold three Int and three Double attributes
   * at most: ObjectSize and ItemsDone, ItemsFailed are the Ints, the others Doubles.
   */
  /** Chunks of a chunked file; files listed by a reprocess run. */
  itemsTotal: defineSearchAttributeKey('ItemsTotal', SearchAttributeType.DOUBLE),
  /** Chunks finished (by this run or an earlier one); files processed by a reprocess run. */
  itemsDone: defineSearchAttributeKey('ItemsDone', SearchAttributeType.INT),
  /** Chunks failed; files failed in a reprocess run. */
  itemsFailed: defineSearchAttributeKey('ItemsFailed', SearchAttributeType.INT),
  /** Files a reprocess run started. */
  itemsStarted: defineSearchAttributeKey('ItemsStarted', SearchAttributeType.DOUBLE),
  /** Files a reprocess run skipped: already processed, or running. */
  itemsSkipped: defineSearchAttributeKey('ItemsSkipped', SearchAttributeType.DOUBLE),
} as const;

/** `16 B`, `1.5 KiB`, `64 MiB`: a size as people read it. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : Number(value.toFixed(1))} ${units[unit]}`;
}

/**
 * What every start of a file's workflow sets (the ingress, a reprocess run, a redrive): its search attributes,
 * and the static summary and details the Temporal UI shows in the workflow list and on the workflow's page.
 * What the workflow decides later (job, route, backend) shows in its current details and search attributes.
 */
export function fileStartOptions(
  ref: ObjectRef,
  startedBy: string,
): {
  typedSearchAttributes: SearchAttributePair[];
  staticSummary: string;
  staticDetails: string;
} {
  const slash = ref.key.lastIndexOf('/');
  const name = ref.key.slice(slash + 1) || ref.key;
  const folder = `s3://${ref.bucket}/${ref.key.slice(0, slash + 1)}`;
  const version =
    ref.versionId && ref.versionId !== 'null' ? `version ${ref.versionId}` : `ETag ${ref.etag ?? '?'}`;
  return {
    typedSearchAttributes: [
      { key: SA.bucket, value: ref.bucket },
      { key: SA.objectKey, value: ref.key },
      { key: SA.stage, value: 'received' },
    ],
    staticSummary: [name, ...(ref.size === undefined ? [] : [formatBytes(ref.size)]), folder].join(' · '),
    staticDetails: [
      `**Object:** \`s3://${ref.bucket}/${ref.key}\` (${version})`,
      `**Started by:** ${startedBy}`,
    ].join('  \n'),
  };
}

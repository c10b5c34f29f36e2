/**
 * Every default the processes, the workflows and infra/ agree on, written once. common/config.ts gives them
 * to the environment variables, the workflows fall back on them for options a caller left out, and infra/
 * names its resources after them, so that a stack and a worker left at their defaults find each other.
 */

/** The name the pipeline's resources share: task queue, ECS cluster, prefix of the job queue and definitions. */
export const PIPELINE_NAME = 'file-pipeline';

export const DEFAULTS = {
  /** Task queue of the worker and the workflows the ingress starts (`TEMPORAL_TASK_QUEUE`). */
  taskQueue: PIPELINE_NAME,
  /** How long each extension keeps a message invisible; the workflow extends every third of it. */
  visibilityTimeoutSeconds: 300,
  /** Longest time one processor run may take: then it is stopped, and counts as a failed run. */
  computeTimeoutSeconds: 3600,
  /** How long the compute activity may go without a heartbeat before Temporal retries it elsewhere. */
  heartbeatTimeoutSeconds: 60,
  /** Runs of the processor a failing file gets, and the first backoff between them. */
  computeRetry: { maximumAttempts: 3, initialIntervalSeconds: 5 },
  /**
   * Files no larger than this with no `processor-type` run inline, on the worker
   * (docs/architecture.md, "The inline route for small files").
   */
  inlineMaxBytes: 4 * 1024 * 1024,
  /** CSV files larger than this are split into chunks of about this size. */
  chunkSizeBytes: 64 * 1024 * 1024,
  /** Chunks processed at the same time. */
  maxConcurrentChunks: 10,
  /** Chunks per child workflow. */
  chunksPerChildWorkflow: 1000,
  /** AWS Batch job queue (Fargate Spot) of `pool` files. */
  batchJobQueue: `${PIPELINE_NAME}-spot`,
  /** Batch job definition and ECS task definition of the processor. */
  processorDefinition: `${PIPELINE_NAME}-processor`,
  /** ECS cluster of the processor tasks. */
  ecsCluster: PIPELINE_NAME,
  /** Name of the processor container in the Batch job and ECS task definitions. */
  processorContainer: 'processor',
  /** When the daily report's Schedule runs, for the day before (contract/schedule.ts). */
  reportSchedule: { time: '02:00', timeZone: 'UTC' },
} as const;

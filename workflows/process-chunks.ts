/**
 * Fan-out of a large CSV file's chunks, like Step Functions' Distributed Map: at most N chunks at a time,
 * each retried with backoff, a tolerated failure count or percentage, chunks an earlier run finished reused.
 *
 * Histories stay small whatever the number of chunks: the file's workflow runs one child workflow per batch of
 * chunks (`chunksPerChildWorkflow`), one batch after the other; each child runs its chunks N at a time and
 * signals its parent every few chunks, so the parent's history grows with the batches, not the chunks.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ComputeRequest, ComputeResult } from '../activities/compute';
import { stagingKeys } from '../contract/layout';
import {
  chunkProgressSignal,
  computeTaskQueue,
  FailureType,
  type ChunkOutcome,
  type ChunkSpec,
  type ProcessFileOptions,
  type Route,
} from '../contract/workflow';

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;
export const DEFAULT_MAX_CONCURRENT_CHUNKS = 10;
export const DEFAULT_CHUNKS_PER_CHILD = 1000;

/** What the chunks of one file share. */
export interface ChunkJob {
  route: Route;
  job: ComputeRequest['job'];
  source: ComputeRequest['source'];
  processedAt: string;
  stagingPrefix: string;
  /** The header record's text, handed to every chunk but the first. */
  header: string;
}

export interface ProcessChunksInput {
  parentWorkflowId: string;
  work: ChunkJob;
  chunks: ChunkSpec[];
  maxConcurrent: number;
  /** Failures this batch may have before it stops starting chunks (the file's remaining tolerance). */
  failureBudget: number;
  options: ProcessFileOptions;
}

/** The file's chunk settings: its options, overridden by its object metadata. */
export interface ChunkSettings {
  chunkSize: number;
  maxConcurrent: number;
  toleratedFailureCount?: number;
  toleratedFailurePercent?: number;
  chunksPerChild: number;
}

const SIZE = /^(\d+)\s*(b|kib|mib|gib|kb|mb|gb)?$/i;
const UNITS: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
};

function invalidMetadata(name: string, value: string, expected: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `x-amz-meta-${name} is "${value}", expected ${expected}. Fix the metadata and upload the file again.`,
    type: FailureType.invalidInput,
    nonRetryable: true,
  });
}

/**
 * Reads `chunk-size`, `max-concurrency`, `tolerated-failure-count` and `tolerated-failure-percent` from the
 * object's metadata over the run's options.
 * @throws a permanent InvalidInput failure naming the metadata key and the expected form.
 */
export function chunkSettings(metadata: Record<string, string>, options: ProcessFileOptions): ChunkSettings {
  const integer = (name: string, min: number, max: number): number | undefined => {
    const value = metadata[name];
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max)
      throw invalidMetadata(name, value, `an integer from ${min} to ${max}`);
    return n;
  };
  let chunkSize = options.chunkSizeBytes ?? DEFAULT_CHUNK_SIZE;
  const size = metadata['chunk-size'];
  if (size !== undefined) {
    const m = SIZE.exec(size.trim());
    const bytes = m ? Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]! : NaN;
    if (!(bytes >= 1024))
      throw invalidMetadata('chunk-size', size, 'a size of at least 1 KiB, e.g. 8MiB or 8388608');
    chunkSize = bytes;
  }
  const percent = metadata['tolerated-failure-percent'];
  let toleratedFailurePercent = options.toleratedFailurePercent;
  if (percent !== undefined) {
    const n = Number(percent);
    if (percent.trim() === '' || !(n >= 0 && n <= 100))
      throw invalidMetadata('tolerated-failure-percent', percent, 'a number from 0 to 100');
    toleratedFailurePercent = n;
  }
  const count = integer('tolerated-failure-count', 0, 1_000_000) ?? options.toleratedFailureCount;
  return {
    chunkSize,
    maxConcurrent:
      integer('max-concurrency', 1, 1000) ?? options.maxConcurrentChunks ?? DEFAULT_MAX_CONCURRENT_CHUNKS,
    ...(count !== undefined ? { toleratedFailureCount: count } : {}),
    ...(toleratedFailurePercent !== undefined ? { toleratedFailurePercent } : {}),
    chunksPerChild: options.chunksPerChildWorkflow ?? DEFAULT_CHUNKS_PER_CHILD,
  };
}

/** How many failed chunks out of `total` the file tolerates (0 when no tolerance is set). */
export function toleratedFailures(settings: ChunkSettings, total: number): number {
  const { toleratedFailureCount: count, toleratedFailurePercent: percent } = settings;
  if (count === undefined && percent === undefined) return 0;
  return Math.min(count ?? total, percent === undefined ? total : Math.floor((percent * total) / 100));
}

/**
 * Runs every chunk through child workflows, one batch after the other, until all ran or more failed than
 * tolerated. Returns every chunk's outcome (chunks never started are absent).
 */
export async function fanOutChunks(
  work: ChunkJob,
  chunks: ChunkSpec[],
  settings: ChunkSettings,
  options: ProcessFileOptions,
): Promise<ChunkOutcome[]> {
  const tolerated = toleratedFailures(settings, chunks.length);
  const outcomes: ChunkOutcome[] = [];
  let failed = 0;
  const { workflowId } = workflowInfo();
  for (
    let from = 0, batch = 1;
    from < chunks.length && failed <= tolerated;
    from += settings.chunksPerChild, batch++
  ) {
    const result = await executeChild(processChunks, {
      workflowId: `${workflowId}/chunks-${batch}`,
      args: [
        {
          parentWorkflowId: workflowId,
          work,
          chunks: chunks.slice(from, from + settings.chunksPerChild),
          maxConcurrent: settings.maxConcurrent,
          failureBudget: tolerated - failed,
          options,
        },
      ],
    });
    outcomes.push(...result);
    failed += result.filter((o) => o.status === 'failed').length;
  }
  return outcomes;
}

/**
 * How often (in chunks) a child reports to its parent: about 10 signals per batch, each costing the parent
 * a handful of events (signal, workflow task, search attribute update).
 */
const reportEvery = (chunks: number) => Math.max(1, Math.ceil(chunks / 10));

/**
 * Attempts of one processor run that Temporal makes through interruptions: a worker that crashed (the
 * heartbeat stops) or shut down for a deploy, an AWS call that failed. Each retried attempt resumes the job
 * its predecessor submitted; none of them counts against `computeRetry`, which is for the processor's own
 * failures.
 */
export const INTERRUPTED_ATTEMPTS = 10;
/** Time the compute activity has beyond the processor's limit to stop the job and report it. */
const STOP_MARGIN_SECONDS = 300;
const LONGEST_BACKOFF_SECONDS = 600;

/** Whether a compute activity failed because the processor failed (exit code, stopped job, time limit). */
function isProcessorFailure(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === FailureType.processorFailed
  );
}

/**
 * The compute activity on its own task queue, with two retry budgets. Temporal retries an interrupted
 * attempt up to {@link INTERRUPTED_ATTEMPTS} times; a processor failure is not retried by Temporal but here,
 * up to `computeRetry.maximumAttempts` runs in all, with exponential backoff. Its cancellation is awaited.
 */
export function computeActivities(options: ProcessFileOptions) {
  const timeoutSeconds = options.computeTimeoutSeconds ?? 3600;
  const { maximumAttempts, initialIntervalSeconds } = options.computeRetry ?? {
    maximumAttempts: 3,
    initialIntervalSeconds: 5,
  };
  const activities = proxyActivities<Activities>({
    taskQueue: computeTaskQueue(workflowInfo().taskQueue),
    // A cancelled workflow ends only once its job is stopped (TerminateJob, StopTask), not before.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    // The activity stops the job at `timeoutSeconds` itself; this only catches a worker that could not.
    startToCloseTimeout: `${timeoutSeconds + STOP_MARGIN_SECONDS} seconds`,
    heartbeatTimeout: `${options.heartbeatTimeoutSeconds ?? 60} seconds`,
    retry: {
      // A crash was already noticed late (the heartbeat timeout): no need to wait long on top.
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: INTERRUPTED_ATTEMPTS,
      nonRetryableErrorTypes: [FailureType.processorFailed],
    },
  });
  return {
    async runProcessor(request: Omit<ComputeRequest, 'timeoutSeconds'>): Promise<ComputeResult> {
      for (let run = 1; ; run++) {
        try {
          return await activities.runProcessor({ ...request, timeoutSeconds });
        } catch (err) {
          if (run >= maximumAttempts || !isProcessorFailure(err)) throw err;
          await sleep(Math.min(initialIntervalSeconds * 2 ** (run - 1), LONGEST_BACKOFF_SECONDS) * 1000);
        }
      }
    },
  };
}

/**
 * Child workflow: one batch of a file's chunks, `maxConcurrent` at a time. A chunk whose part an earlier run
 * left in staging is reused. It stops starting chunks once more than `failureBudget` have failed.
 */
export async function processChunks(input: ProcessChunksInput): Promise<ChunkOutcome[]> {
  const { work, options } = input;
  const quick = proxyActivities<Activities>({
    startToCloseTimeout: '5 minutes',
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      maximumAttempts: 8,
    },
  });
  const compute = computeActivities(options);
  const parent = getExternalWorkflowHandle(input.parentWorkflowId);
  const unreported = { done: 0, reused: 0, failed: 0 };
  let sinceReport = 0;
  const every = reportEvery(input.chunks.length);
  const report = async (force: boolean) => {
    if (!force && sinceReport < every) return;
    if (unreported.done + unreported.reused + unreported.failed === 0) return;
    const counts = { ...unreported };
    Object.assign(unreported, { done: 0, reused: 0, failed: 0 });
    sinceReport = 0;
    await parent.signal(chunkProgressSignal, counts);
  };

  const reused = new Set(
    await quick.completedChunks({
      stagingPrefix: work.stagingPrefix,
      chunks: input.chunks,
      sourceEtag: work.source.etag,
      processedAt: work.processedAt,
    }),
  );
  const outcomes: ChunkOutcome[] = [];
  for (const index of reused) outcomes.push({ index, status: 'reused' });
  unreported.reused = reused.size;
  sinceReport = reused.size;
  await report(false);

  const queue = input.chunks.filter((c) => !reused.has(c.index));
  let failures = 0;
  const lane = async () => {
    for (let chunk = queue.shift(); chunk && failures <= input.failureBudget; chunk = queue.shift()) {
      const started = Date.now();
      const keys = stagingKeys(work.stagingPrefix, chunk.index);
      try {
        const run = await compute.runProcessor({
          route: work.route,
          job: work.job,
          source: work.source,
          processedAt: work.processedAt,
          destinationKey: keys.part,
          statsKey: keys.stats,
          rejectsKey: keys.rejects,
          chunk: { ...chunk, ...(chunk.start > 0 ? { header: work.header } : {}) },
        });
        outcomes.push({
          index: chunk.index,
          status: 'done',
          seconds: (Date.now() - started) / 1000,
          backend: run.executor,
          jobId: run.jobId,
        });
        unreported.done++;
      } catch (err) {
        if (isCancellation(err)) throw err;
        failures++;
        const cause = err instanceof ActivityFailure ? err.cause : err;
        outcomes.push({
          index: chunk.index,
          status: 'failed',
          seconds: (Date.now() - started) / 1000,
          error: cause instanceof Error ? cause.message : String(cause),
          permanent: cause instanceof ApplicationFailure && cause.nonRetryable === true,
        });
        unreported.failed++;
      }
      sinceReport++;
      await report(false);
    }
  };
  await Promise.all(Array.from({ length: Math.min(input.maxConcurrent, queue.length) }, lane));
  await report(true);
  return outcomes.sort((a, b) => a.index - b.index);
}

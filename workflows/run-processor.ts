/**
 * The compute activity as the workflows call it: on its own task queue, with two retry budgets, one for
 * interruptions (Temporal's) and one for the processor's own failures (this file's loop).
 */
import { ActivityCancellationType, proxyActivities, sleep, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ComputeRequest, ComputeResult } from '../activities/compute';
import { DEFAULTS } from '../contract/defaults';
import { computeTaskQueue, inlineTaskQueue, type ProcessFileOptions } from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { failureOf } from './failures';

/**
 * Attempts of one processor run that Temporal makes through interruptions: a worker that crashed (the
 * heartbeat stops) or shut down for a deploy, an AWS call that failed. Each retried attempt resumes the run
 * its predecessor submitted; none of them counts against `computeRetry`, which is for the processor's own
 * failures.
 */
export const INTERRUPTED_ATTEMPTS = 10;
/** Time the compute activity has beyond the processor's limit to stop the run and report it. */
const STOP_MARGIN_SECONDS = 300;
const LONGEST_BACKOFF_SECONDS = 600;

/**
 * The compute activity on its own task queue (the inline pool's for inline runs), with two retry budgets. Temporal retries an interrupted
 * attempt up to {@link INTERRUPTED_ATTEMPTS} times; a processor failure is not retried by Temporal but here,
 * up to `computeRetry.maximumAttempts` runs in all, with exponential backoff. Its cancellation is awaited.
 */
export function computeActivities(options: ProcessFileOptions) {
  const timeoutSeconds = options.computeTimeoutSeconds ?? DEFAULTS.computeTimeoutSeconds;
  const { maximumAttempts, initialIntervalSeconds } = options.computeRetry ?? DEFAULTS.computeRetry;
  const proxy = (taskQueue: string) =>
    proxyActivities<Activities>({
      taskQueue,
      // A cancelled workflow ends only once its run is stopped (TerminateJob, StopTask), not before.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
      // The activity stops the run at `timeoutSeconds` itself; this only catches a worker that could not.
      startToCloseTimeout: `${timeoutSeconds + STOP_MARGIN_SECONDS} seconds`,
      heartbeatTimeout: `${options.heartbeatTimeoutSeconds ?? DEFAULTS.heartbeatTimeoutSeconds} seconds`,
      retry: {
        // A crash was already noticed late (the heartbeat timeout): no need to wait long on top.
        initialInterval: '1 second',
        backoffCoefficient: 2,
        maximumInterval: '1 minute',
        maximumAttempts: INTERRUPTED_ATTEMPTS,
        nonRetryableErrorTypes: [FailureType.processorFailed],
      },
    });
  const queues = {
    containers: proxy(computeTaskQueue(workflowInfo().taskQueue)),
    inline: proxy(inlineTaskQueue(workflowInfo().taskQueue)),
  };
  return {
    async runProcessor(request: Omit<ComputeRequest, 'timeoutSeconds'>): Promise<ComputeResult> {
      for (let run = 1; ; run++) {
        try {
          const queue = request.route === 'inline' ? queues.inline : queues.containers;
          return await queue.runProcessor.executeWithOptions(
            { summary: runSummary(request, run, maximumAttempts) },
            [{ ...request, timeoutSeconds }],
          );
        } catch (err) {
          // Only the processor's own failures (exit code, stopped run, time limit) get another run here.
          if (run >= maximumAttempts || failureOf(err).type !== FailureType.processorFailed) throw err;
          await sleep(Math.min(initialIntervalSeconds * 2 ** (run - 1), LONGEST_BACKOFF_SECONDS) * 1000);
        }
      }
    },
  };
}

/**
 * The compute activity's summary: `run csv-transform on batch (run 2 of 3)`, `run csv-validate on ecs, chunk 3
 * (bytes 0-99) (run 1 of 3)`. A run, not an attempt: Temporal's attempts of one run show on the activity.
 */
function runSummary(request: Omit<ComputeRequest, 'timeoutSeconds'>, run: number, runs: number): string {
  const { job, route, chunk } = request;
  const part = chunk ? `, chunk ${chunk.index + 1} (bytes ${chunk.start}-${chunk.end - 1})` : '';
  return `run ${job} on ${route}${part} (run ${run} of ${runs})`;
}

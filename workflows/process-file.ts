/**
 * `processFile`: one workflow per object version. It reads like the flow of design.md:
 * inspect → route → choose the job → run it → verify the output → acknowledge the SQS message.
 * Mechanics live in the activities; this file only decides.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { chooseJob, isJobName, JOB_NAMES, outputKeyFor } from '../common/jobs';
import {
  computeTaskQueue,
  FailureType,
  messageReceivedSignal,
  progressQuery,
  SA,
  type ProcessFileInput,
  type ProcessFileResult,
  type Progress,
  type QueueMessage,
  type Route,
  type Stage,
} from './definitions';

const quick = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
  },
});

/** Metadata key that routes a file: `pool` → AWS Batch (Fargate Spot); anything else → ECS Fargate. */
const PROCESSOR_TYPE = 'processor-type';
/** `patched()` ID of the failure report: runs started before it replay without the extra activity. */
const FAILURE_REPORT_PATCH = 'failure-report';
const JOB = 'job';

export function routeFor(processorType: string | undefined): Route {
  return processorType === 'pool' ? 'batch' : 'ecs';
}

interface Failure {
  type: string;
  message: string;
  permanent: boolean;
}

/** The application failure behind an error, whether thrown here or by an activity. */
function failureOf(err: unknown): Failure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return { type: cause.type ?? 'Error', message: cause.message, permanent: cause.nonRetryable === true };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { type: 'Transient', message, permanent: false };
}

export async function processFile({ object, options = {} }: ProcessFileInput): Promise<ProcessFileResult> {
  const visibilitySeconds = options.visibilityTimeoutSeconds ?? 300;
  const compute = proxyActivities<Activities>({
    taskQueue: computeTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: `${options.computeTimeoutSeconds ?? 3600} seconds`,
    heartbeatTimeout: `${options.heartbeatTimeoutSeconds ?? 60} seconds`,
    retry: {
      initialInterval: `${options.computeRetry?.initialIntervalSeconds ?? 5} seconds`,
      backoffCoefficient: 2,
      maximumInterval: '10 minutes',
      maximumAttempts: options.computeRetry?.maximumAttempts ?? 3,
    },
  });

  /** Messages by id, each with its latest receipt handle; duplicates of one notification all land here. */
  const messages = new Map<string, QueueMessage>();
  const acknowledged = new Set<string>();
  const progress: Progress = { stage: 'received', messages: 0 };

  setHandler(messageReceivedSignal, (m) => {
    const known = messages.get(m.messageId);
    if (!known || m.receiveCount >= known.receiveCount) messages.set(m.messageId, m);
    progress.messages = messages.size;
  });
  setHandler(progressQuery, () => progress);

  const setStage = (stage: Stage) => {
    progress.stage = stage;
    upsertSearchAttributes([{ key: SA.stage, value: stage }]);
  };
  const pending = () => [...messages.values()].filter((m) => !acknowledged.has(m.messageId));

  /** Acknowledges every message, including any that arrives while acknowledging. */
  const acknowledgeAll = async () => {
    for (let batch = pending(); batch.length > 0; batch = pending()) {
      await quick.acknowledge(batch);
      for (const m of batch) acknowledged.add(m.messageId);
    }
  };

  // Keep the messages invisible while working: extend at once (the queue's own timeout may be short),
  // then every third of the extension.
  let finished = false;
  const keeper = (async () => {
    try {
      await condition(() => messages.size > 0 || finished);
      while (!finished) {
        const batch = pending();
        if (batch.length > 0) {
          try {
            await quick.extendVisibility(batch, visibilitySeconds);
          } catch (err) {
            // A failed extension only risks an early redelivery, which the workflow ID absorbs.
            if (isCancellation(err)) throw err;
          }
        }
        await condition(() => finished, `${Math.floor(visibilitySeconds / 3)} seconds`);
      }
    } catch (err) {
      // A cancelled workflow stops keeping its messages; the main flow releases them.
      if (!isCancellation(err)) throw err;
    }
  })();
  const stopKeeper = async () => {
    finished = true;
    await keeper;
  };

  try {
    setStage('inspecting');
    const info = await quick.inspectObject(object);
    const processorType = info.metadata[PROCESSOR_TYPE] ?? 'default';
    let route = routeFor(info.metadata[PROCESSOR_TYPE]);
    const job = chooseJob(info.key, info.metadata[JOB]);
    Object.assign(progress, { route, processorType, ...(job ? { job } : {}) });
    upsertSearchAttributes([
      { key: SA.objectSize, value: info.size },
      { key: SA.processorType, value: processorType },
      { key: SA.computeBackend, value: route },
      ...(job ? [{ key: SA.job, value: job }] : []),
    ]);
    if (!job || !isJobName(job)) {
      throw ApplicationFailure.create({
        message:
          `no job for s3://${info.bucket}/${info.key}: ` +
          (job ? `unknown job "${job}" in x-amz-meta-job` : 'its extension matches no job') +
          `. Set x-amz-meta-job to one of ${JOB_NAMES.join(', ')} and upload it again.`,
        type: FailureType.unknownJob,
        nonRetryable: true,
      });
    }

    setStage('processing');
    const source = {
      bucket: info.bucket,
      key: info.key,
      etag: info.etag,
      ...(info.versionId ? { versionId: info.versionId } : {}),
    };
    const processedAt = new Date(workflowInfo().runStartTime).toISOString();
    const request = { job, source, destinationKey: outputKeyFor(info.key, job), processedAt };
    let run;
    try {
      run = await compute.runProcessor({ ...request, route });
    } catch (err) {
      // Batch on Spot can wait for capacity for hours: the backend gave up on it, so ECS takes the file.
      if (failureOf(err).type !== FailureType.capacityUnavailable) throw err;
      progress.rerouted = failureOf(err).message;
      route = 'ecs';
      progress.route = route;
      upsertSearchAttributes([{ key: SA.computeBackend, value: route }]);
      run = await compute.runProcessor({ ...request, route });
    }
    progress.executor = run.executor;
    progress.awsRequest = run.awsRequest;
    progress.output = `s3://${run.destination.bucket}/${run.destination.key}`;

    setStage('verifying');
    const output = await quick.verifyOutput({
      key: run.destination.key,
      source,
      allowEmpty: info.size === 0,
    });

    setStage('acknowledging');
    await stopKeeper();
    await acknowledgeAll();
    setStage('done');
    return {
      status: 'processed',
      object: { ...object, size: info.size, etag: info.etag },
      route,
      processorType,
      job,
      executor: run.executor,
      jobId: run.jobId,
      ...(progress.rerouted ? { rerouted: progress.rerouted } : {}),
      awsRequest: run.awsRequest,
      output,
      processedAt,
      stats: run.stats,
      messagesAcknowledged: acknowledged.size,
    };
  } catch (err) {
    await stopKeeper();
    if (isCancellation(err)) {
      // Cancelled (by a person or a timeout): the job was stopped; let SQS redeliver the message.
      setStage('failed');
      await CancellationScope.nonCancellable(async () => {
        const batch = pending();
        if (batch.length > 0)
          await quick.release(batch, { type: 'Cancelled', message: 'workflow cancelled' });
      });
      throw err;
    }
    const failure = failureOf(err);
    progress.error = failure.message;
    if (failure.type === FailureType.objectSuperseded) {
      await acknowledgeAll();
      setStage('skipped');
      return { status: 'skipped', object, reason: failure.message, messagesAcknowledged: acknowledged.size };
    }
    setStage('failed');
    // Added after workflows had run without it: histories recorded before must replay unchanged.
    if (patched(FAILURE_REPORT_PATCH)) {
      await quick.writeFailureReport({
        object,
        type: failure.type,
        message: failure.message,
        disposition: failure.permanent ? 'dead-letter' : 'redelivery',
      });
    }
    const batch = pending();
    if (batch.length > 0) {
      if (failure.permanent) await quick.moveToDeadLetter(batch, failure);
      else await quick.release(batch, failure);
    }
    throw ApplicationFailure.create({
      message: `s3://${object.bucket}/${object.key}: ${failure.message}`,
      type: failure.type,
      nonRetryable: true,
      cause: err instanceof Error ? err : undefined,
    });
  }
}

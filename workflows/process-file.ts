/**
 * `processFile`: one workflow per object version. It reads like the flow of design.md:
 * inspect → route → choose the job → run it → verify the output → acknowledge the SQS message.
 * Mechanics live in the activities; this file only decides.
 */
import {
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
import type { RunPlan } from '../activities/staging';
import { DEFAULTS } from '../contract/defaults';
import { chooseJob, isCsvJob, isJobName, JOBS, JOB_NAMES, outputKeyFor } from '../contract/jobs';
import { INPUT_METADATA, OUTPUT_METADATA, rejectsKeyFor, stagingKeys } from '../contract/layout';
import type { PlannedChunk, SourceVersion } from '../contract/objects';
import type { ChunksReport, FileReport, Summary, VerifiedOutput } from '../contract/reports';
import {
  chunkProgressSignal,
  FailureType,
  messageReceivedSignal,
  progressQuery,
  SA,
  type ChunkCounts,
  type ProcessFileInput,
  type ProcessFileResult,
  type Progress,
  type QueueMessage,
  type Route,
  type Stage,
} from '../contract/workflow';
import { failureOf } from './failures';
import { chunkSettings, fanOutChunks, toleratedFailures } from './process-chunks';
import { computeActivities, INTERRUPTED_ATTEMPTS } from './run-processor';

const quick = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '30 seconds',
    maximumAttempts: 8,
  },
});

/** `patched()` ID of the failure report: runs started before it replay without the extra activity. */
const FAILURE_REPORT_PATCH = 'failure-report';
/** `patched()` ID of planning, chunked CSV processing and reports: older runs replay the single run. */
const CHUNKS_PATCH = 'chunks-and-reports';
/** Longest error text kept per failed chunk in the report. */
const MAX_CHUNK_ERROR_CHARS = 500;

/** `pool` files go to AWS Batch (Fargate Spot), the others to an ECS Fargate task. */
function routeFor(processorType: string | undefined): Route {
  return processorType === 'pool' ? 'batch' : 'ecs';
}

/** `rows in = rows out + rows rejected`, and the rows the scan counted, or an OutputInvalid failure. */
function checkRows(summary: Summary, scannedRows: number | undefined): void {
  const problems = [
    summary.rowsIn === summary.rowsOut + summary.rowsRejected
      ? undefined
      : `rows in (${summary.rowsIn}) ≠ rows out (${summary.rowsOut}) + rows rejected (${summary.rowsRejected})`,
    scannedRows === undefined || scannedRows === summary.rowsIn
      ? undefined
      : `the chunks read ${summary.rowsIn} rows but the plan's scan counted ${scannedRows}`,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      message: `the output failed verification: ${problems.join('; ')}`,
      type: FailureType.outputInvalid,
    });
  }
}

/** Too many rejected rows fail the file (csv-validate's threshold, applied to the whole file). */
function checkRejectedShare(summary: Summary, rejectsKey: string): void {
  const limit = summary.maxRejectedPercent;
  if (limit === undefined || summary.rowsRejected * 100 <= limit * summary.rowsIn) return;
  const percent = ((summary.rowsRejected * 100) / summary.rowsIn).toFixed(2);
  const rules = Object.entries(summary.rejectsByRule)
    .map(([rule, n]) => `${rule}: ${n}`)
    .join(', ');
  throw ApplicationFailure.create({
    message:
      `${summary.rowsRejected} of ${summary.rowsIn} rows (${percent}%) were rejected, more than the ` +
      `${limit}% allowed (failed checks: ${rules}). The rejects are in ${rejectsKey}; fix the file and upload it again, ` +
      'or raise maxRejectedPercent in the schema.',
    type: FailureType.invalidInput,
    nonRetryable: true,
  });
}

export async function processFile({ object, options = {} }: ProcessFileInput): Promise<ProcessFileResult> {
  const visibilitySeconds = options.visibilityTimeoutSeconds ?? DEFAULTS.visibilityTimeoutSeconds;
  const slow = proxyActivities<Activities>({
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '2 minutes',
    retry: {
      initialInterval: '5 seconds',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      // Mostly a crashed worker (the heartbeat stops): a merge resumes its upload where it stopped.
      maximumAttempts: INTERRUPTED_ATTEMPTS,
    },
  });
  const compute = computeActivities(options);

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

  // Keep the messages invisible while working: extend each receipt at once (the queue's own timeout may be
  // short), whether it came first or was signalled later (a duplicate, a redelivery), then every third of
  // the extension.
  let finished = false;
  /** Receipt handles extended at least once. */
  const extended = new Set<string>();
  const unextended = () => pending().some((m) => !extended.has(m.receiptHandle));
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
          for (const m of batch) extended.add(m.receiptHandle);
        }
        await condition(() => finished || unextended(), `${Math.floor(visibilitySeconds / 3)} seconds`);
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

  /** The end of a successful run: stop renewing the messages' visibility, delete them all. */
  const acknowledgeAndFinish = async () => {
    setStage('acknowledging');
    await stopKeeper();
    await acknowledgeAll();
    setStage('done');
  };

  try {
    setStage('inspecting');
    const info = await quick.inspectObject(object);
    const processorType = info.metadata[INPUT_METADATA.processorType] ?? 'default';
    let route = routeFor(info.metadata[INPUT_METADATA.processorType]);
    const job = chooseJob(info.key, info.metadata[INPUT_METADATA.job]);
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

    const source: SourceVersion = {
      bucket: info.bucket,
      key: info.key,
      etag: info.etag,
      ...(info.versionId ? { versionId: info.versionId } : {}),
    };
    let processedAt = new Date(workflowInfo().runStartTime).toISOString();
    const destinationKey = outputKeyFor(info.key, job);
    const rejectsKey = rejectsKeyFor(destinationKey);
    /** The file's report: what every report says, and for a CSV job its rows and statistics. */
    const reportOf = (
      status: FileReport['status'],
      output: VerifiedOutput,
      summary: Summary,
      chunks: ChunksReport,
    ): FileReport => ({
      status,
      object: { ...source, size: info.size },
      job,
      route,
      processorType,
      processedAt,
      output,
      ...(job === 'csv-validate' ? { rejects: { bucket: output.bucket, key: rejectsKey } } : {}),
      ...(isCsvJob(job)
        ? {
            rows: { in: summary.rowsIn, out: summary.rowsOut, rejected: summary.rowsRejected },
            rejectsByRule: summary.rejectsByRule,
            columns: summary.columns,
            totals: summary.totals,
          }
        : {}),
      chunks,
    });
    /** The end of a processed file: acknowledge its messages, then say what was done. */
    const processed = async (
      outcome: Omit<ProcessFileResult, 'status' | 'object' | 'messagesAcknowledged'>,
    ): Promise<ProcessFileResult> => {
      await acknowledgeAndFinish();
      return {
        status: 'processed',
        object: { ...object, size: info.size, etag: info.etag },
        route,
        processorType,
        job,
        processedAt,
        ...outcome,
        messagesAcknowledged: acknowledged.size,
      };
    };
    let plan: RunPlan | undefined;
    if (patched(CHUNKS_PATCH)) {
      const settings = chunkSettings(info.metadata, options);
      setStage('planning');
      plan = await slow.planRun({
        source,
        size: info.size,
        chunkSize: settings.chunkSize,
        csv: isCsvJob(job),
        processedAt,
      });
      processedAt = plan.processedAt;
      if (plan.chunks.length > 1) {
        const stagingPrefix = plan.stagingPrefix;
        const chunks: PlannedChunk[] = plan.chunks.map((c, index) => ({ index, ...c }));
        const counts: ChunkCounts = { total: chunks.length, done: 0, reused: 0, failed: 0 };
        progress.chunks = counts;
        const showCounts = () =>
          upsertSearchAttributes([
            { key: SA.chunksTotal, value: counts.total },
            { key: SA.chunksDone, value: counts.done + counts.reused },
            { key: SA.chunksFailed, value: counts.failed },
          ]);
        setHandler(chunkProgressSignal, (delta) => {
          counts.done += delta.done;
          counts.reused += delta.reused;
          counts.failed += delta.failed;
          showCounts();
        });
        showCounts();

        setStage('processing');
        const outcomes = await fanOutChunks(
          { route, job, source, processedAt, stagingPrefix, header: plan.header },
          chunks,
          settings,
          options,
        );
        const failed = outcomes.filter((o) => o.status === 'failed');
        Object.assign(counts, {
          done: outcomes.filter((o) => o.status === 'done').length,
          reused: outcomes.filter((o) => o.status === 'reused').length,
          failed: failed.length,
        });
        showCounts();
        const tolerated = toleratedFailures(settings, chunks.length);
        if (failed.length > tolerated) {
          const first = failed[0]!;
          throw ApplicationFailure.create({
            message:
              `${failed.length} of ${chunks.length} chunks failed, ${tolerated} tolerated; chunk ${first.index + 1} ` +
              `(bytes ${chunks[first.index]!.start}-${chunks[first.index]!.end - 1}): ${first.error ?? 'failed'}. ` +
              `Fix the cause, then rerun only the failed chunks: npm run redrive -- '${workflowInfo().workflowId}'`,
            type: FailureType.chunksFailed,
            nonRetryable: failed.some((o) => o.permanent),
          });
        }

        setStage('merging');
        const succeeded = outcomes.filter((o) => o.status !== 'failed').map((o) => o.index);
        const summary = await slow.summarizeChunks({ stagingPrefix, indices: succeeded });
        checkRows(summary, failed.length === 0 ? plan.rows : undefined);
        const metadata: Record<string, string> = {
          [OUTPUT_METADATA.job]: job,
          [OUTPUT_METADATA.processedAt]: processedAt,
          [OUTPUT_METADATA.sourceBucket]: info.bucket,
          [OUTPUT_METADATA.sourceKey]: info.key,
          [OUTPUT_METADATA.sourceEtag]: info.etag,
          ...(info.versionId ? { [OUTPUT_METADATA.sourceVersionId]: info.versionId } : {}),
          [OUTPUT_METADATA.rowsIn]: String(summary.rowsIn),
          [OUTPUT_METADATA.rowsOut]: String(summary.rowsOut),
          [OUTPUT_METADATA.rowsRejected]: String(summary.rowsRejected),
          [OUTPUT_METADATA.chunks]: String(chunks.length),
          [OUTPUT_METADATA.chunksFailed]: String(failed.length),
        };
        if (job === 'csv-validate') {
          await slow.mergeParts({
            stagingPrefix,
            kind: 'rejects',
            indices: succeeded,
            destinationKey: rejectsKey,
            contentType: JOBS[job].contentType,
            metadata,
          });
          checkRejectedShare(summary, rejectsKey);
        }
        await slow.mergeParts({
          stagingPrefix,
          kind: 'part',
          indices: succeeded,
          destinationKey,
          contentType: JOBS[job].contentType,
          metadata,
        });
        setStage('verifying');
        const output = await quick.verifyOutput({ key: destinationKey, source, allowEmpty: false });
        progress.output = `s3://${output.bucket}/${output.key}`;

        setStage('reporting');
        const report = await quick.writeReport({
          source,
          processedAt,
          report: reportOf(
            failed.length > 0 ? 'processed-with-failed-chunks' : 'processed',
            output,
            summary,
            {
              ...counts,
              chunkSize: plan.chunkSize,
              ...(failed.length > 0 ? { staging: stagingPrefix } : {}),
              list: outcomes.map((o) => ({
                ...o,
                start: chunks[o.index]!.start,
                end: chunks[o.index]!.end,
                ...(o.error ? { error: o.error.slice(0, MAX_CHUNK_ERROR_CHARS) } : {}),
              })),
            },
          ),
        });
        // Failed chunks keep the staging folder, so that a redrive reruns only them.
        if (failed.length === 0) await slow.deleteStaging(stagingPrefix);

        return processed({
          output,
          stats: { rowsIn: summary.rowsIn, rowsOut: summary.rowsOut, rowsRejected: summary.rowsRejected },
          chunks: counts,
          report,
        });
      }
    }

    setStage('processing');
    const request = {
      job,
      source,
      destinationKey,
      processedAt,
      ...(plan ? { statsKey: stagingKeys(plan.stagingPrefix, 0).stats } : {}),
    };
    const started = Date.now();
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

    let report;
    if (plan) {
      const summary = await slow.summarizeChunks({ stagingPrefix: plan.stagingPrefix, indices: [0] });
      if (isCsvJob(job)) checkRows(summary, undefined);
      setStage('reporting');
      // A PDF's report says what it holds, and which scripts it could not show.
      const pdf =
        job === 'text-to-pdf'
          ? {
              pages: run.stats.pages,
              lines: run.stats.linesIn,
              ...(run.stats.invalidSequences ? { invalidSequences: run.stats.invalidSequences } : {}),
              ...(run.missingGlyphs ? { missingGlyphs: run.missingGlyphs } : {}),
            }
          : {};
      report = await quick.writeReport({
        source,
        processedAt,
        report: {
          ...reportOf('processed', output, summary, {
            total: 1,
            done: 1,
            reused: 0,
            failed: 0,
            chunkSize: plan.chunkSize,
            list: [
              {
                index: 0,
                status: 'done',
                start: 0,
                end: info.size,
                seconds: (Date.now() - started) / 1000,
                backend: run.executor,
                jobId: run.jobId,
              },
            ],
          }),
          ...pdf,
        },
      });
      await slow.deleteStaging(plan.stagingPrefix);
    }

    return processed({
      executor: run.executor,
      jobId: run.jobId,
      ...(progress.rerouted ? { rerouted: progress.rerouted } : {}),
      awsRequest: run.awsRequest,
      output,
      stats: run.stats,
      ...(report ? { report } : {}),
    });
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

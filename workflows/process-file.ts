/**
 * `processFile`: one workflow per object version, in named steps that read like the flow of
 * docs/architecture.md: inspect → plan → run whole | run chunked → finish (verify, report, acknowledge).
 * Each step takes what it needs and returns what it decides; the decisions themselves are pure functions
 * (inspection.ts, file-report.ts), the mechanics are activities.
 *
 * A small file costs three activities (inspect, run, finish) and two search-attribute updates: the stage
 * and its details in one update after the inspection, the end in another. Intermediate stages show in the
 * `progress` query and the workflow's current details only.
 */
import { ApplicationFailure, CancellationScope, isCancellation, workflowInfo } from '@temporalio/workflow';
import type { RunPlan } from '../activities/staging';
import { isCsvJob, validatesRows } from '../contract/jobs';
import type { ObjectRef } from '../contract/objects';
import {
  formatBytes,
  SA,
  type ProcessFileInput,
  type ProcessFileOptions,
  type ProcessFileResult,
} from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { bulk, finishing, messageCount, quick, streaming } from './activity-options';
import { failureOf } from './failures';
import { fileReport, processedResult, rowsOf, type RunOutcome } from './file-report';
import { FileStatus } from './file-status';
import { inspectedFile, needsPlan, routingOf, type InspectedFile } from './inspection';
import { trackMessages, type FileMessages } from './messages';
import { runChunked } from './run-chunked';
import { runWhole } from './run-whole';
import { recordDeadLetter, recordFile, recordProcessed } from './metrics';

/** Seconds since the workflow started (the hand-over), in workflow time: a replay computes the same. */
const sinceStart = () => (Date.now() - workflowInfo().startTime.getTime()) / 1000;

export async function processFile({ object, options = {} }: ProcessFileInput): Promise<ProcessFileResult> {
  const status = new FileStatus();
  const messages = trackMessages(options, (count) => status.set({ messages: count }));
  try {
    const file = await inspect(object, options, status);
    const planned = needsPlan(file) ? await plan(file) : undefined;
    // A rerun of the same version keeps the first run's stamp, so its outputs are the same bytes.
    const stamped = planned ? { ...file, processedAt: planned.processedAt } : file;
    const runStarted = Date.now();
    let run: RunOutcome;
    if (planned && planned.chunks.length > 1) {
      run = await runChunked(stamped, planned, options, status);
    } else {
      // A file the scan found to be one chunk runs whole; its plan is not needed any more.
      if (planned) {
        await bulk.deleteStaging.executeWithOptions({ summary: 'delete the plan: one chunk' }, [
          planned.stagingPrefix,
        ]);
      }
      run = await runWhole(stamped, options, status);
    }
    return await finish(
      object,
      stamped,
      { ...run, seconds: (Date.now() - runStarted) / 1000 },
      messages,
      status,
    );
  } catch (err) {
    return await fail(object, err, messages, status);
  }
}

/** Inspect: the object's version, size and metadata; the job, the route and the chunk settings. */
async function inspect(object: ObjectRef, options: ProcessFileOptions, status: FileStatus) {
  status.stage('inspecting');
  const info = await quick.inspectObject.executeWithOptions(
    { summary: `inspect s3://${object.bucket}/${object.key}` },
    [object],
  );
  const routing = routingOf(info, options);
  status.set({
    route: routing.route,
    processorType: routing.processorType,
    ...(routing.job ? { job: routing.job } : {}),
  });
  status.note(
    { key: SA.objectSize, value: info.size },
    { key: SA.processorType, value: routing.processorType },
    { key: SA.route, value: routing.route },
    ...(routing.job ? [{ key: SA.job, value: routing.job }] : []),
  );
  const startedAt = new Date(workflowInfo().runStartTime).toISOString();
  let file: InspectedFile;
  try {
    file = inspectedFile(info, routing, options, startedAt);
  } catch (err) {
    // What was found shows with the failure, in the same update.
    status.show('failed');
    throw err;
  }
  status.show(needsPlan(file) ? 'planning' : 'processing');
  return file;
}

/** Plan: the file scanned for chunk boundaries (the plan, in staging). */
function plan(file: InspectedFile): Promise<RunPlan> {
  return streaming.planRun.executeWithOptions(
    { summary: `plan ${formatBytes(file.info.size)} in chunks of ${formatBytes(file.settings.chunkSize)}` },
    [
      {
        source: file.source,
        size: file.info.size,
        chunkSize: file.settings.chunkSize,
        ...(file.delimiter ? { delimiter: file.delimiter } : {}),
        processedAt: file.processedAt,
      },
    ],
  );
}

/** Finish: verify the output, write the report, acknowledge the messages (one activity), show the end. */
async function finish(
  object: ObjectRef,
  file: InspectedFile,
  run: RunOutcome & { seconds: number },
  messages: FileMessages,
  status: FileStatus,
): Promise<ProcessFileResult> {
  status.set({ stage: 'verifying', ...(isCsvJob(file.job) ? { rows: rowsOf(run.summary) } : {}) });
  await messages.stopKeeper();
  const batch = messages.book.pending();
  const report = fileReport(file, run, sinceStart());
  const finished = await finishing.finishFile.executeWithOptions({ summary: finishSummary(batch.length) }, [
    {
      source: file.source,
      processedAt: file.processedAt,
      output: run.output,
      allowEmpty: file.info.size === 0,
      ...(run.statsKey ? { statsKey: run.statsKey } : {}),
      ...(validatesRows(file.job) ? { rejectsKey: file.rejectsKey } : {}),
      messages: batch,
      report,
    },
  ]);
  messages.book.acknowledged(batch);
  // Duplicates signalled while finishing.
  await messages.acknowledgeAll();
  status.set({ backend: run.backend, output: `s3://${finished.output.bucket}/${finished.output.key}` });
  status.show('done', { key: SA.backend, value: run.backend });
  const tags = { job: file.job, route: file.route };
  recordProcessed({ ...tags, backend: run.backend }, report, run.seconds);
  recordFile(tags, report.status, sinceStart());
  return processedResult(object, file, run, finished, messages.book.acknowledgedCount);
}

/**
 * A failure: a superseded object is skipped; anything else is reported, and its messages are dead-lettered
 * (permanent) or released for redelivery. A cancellation releases them and ends the workflow cancelled.
 */
async function fail(
  object: ObjectRef,
  err: unknown,
  messages: FileMessages,
  status: FileStatus,
): Promise<ProcessFileResult> {
  await messages.stopKeeper();
  if (isCancellation(err)) {
    // Cancelled (by a person or a timeout): the run was stopped; let SQS redeliver the message.
    status.show('failed');
    await CancellationScope.nonCancellable(async () => {
      const batch = messages.book.pending();
      if (batch.length > 0) {
        await quick.release.executeWithOptions({ summary: `release ${messageCount(batch.length)}` }, [
          batch,
          { type: FailureType.cancelled, message: 'workflow cancelled' },
        ]);
      }
    });
    throw err;
  }
  const failure = failureOf(err);
  status.set({ failure: { type: failure.type, message: failure.message } });
  // A failure before the inspection knows neither.
  const tags = { job: status.progress.job ?? 'unknown', route: status.progress.route ?? 'unknown' };
  if (failure.type === FailureType.objectSuperseded) {
    await messages.acknowledgeAll();
    status.show('skipped');
    recordFile(tags, 'skipped', sinceStart());
    return {
      status: 'skipped',
      object,
      reason: failure.message,
      messagesAcknowledged: messages.book.acknowledgedCount,
    };
  }
  if (status.progress.stage !== 'failed') status.show('failed');
  await quick.writeFailureReport.executeWithOptions({ summary: `report the failure: ${failure.type}` }, [
    {
      object,
      type: failure.type,
      message: failure.message,
      disposition: failure.permanent ? 'dead-letter' : 'redelivery',
    },
  ]);
  const batch = messages.book.pending();
  recordFile(tags, failure.permanent ? 'failed' : 'released', sinceStart());
  if (failure.permanent && batch.length > 0) recordDeadLetter(failure.type);
  if (batch.length > 0) {
    if (failure.permanent) {
      await quick.moveToDeadLetter.executeWithOptions(
        { summary: `dead-letter ${messageCount(batch.length)}` },
        [batch, failure],
      );
    } else {
      await quick.release.executeWithOptions({ summary: `release ${messageCount(batch.length)}` }, [
        batch,
        failure,
      ]);
    }
  }
  throw ApplicationFailure.create({
    message: `s3://${object.bucket}/${object.key}: ${failure.message}`,
    type: failure.type,
    nonRetryable: true,
    cause: err instanceof Error ? err : undefined,
  });
}

const finishSummary = (messages: number) =>
  `verify the output, write the report${messages > 0 ? `, acknowledge ${messageCount(messages)}` : ''}`;

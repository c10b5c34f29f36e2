/**
 * `processFile`: one workflow per object version, in named steps that read like the flow of design.md:
 * inspect → plan → run whole | run chunked → finish (verify, report, acknowledge). Mechanics live in the
 * activities; this file only decides.
 *
 * A small file costs three activities (inspect, run, finish) and two search-attribute updates: the stage
 * and its details in one update after the inspection, the end in another. Intermediate stages show in the
 * `progress` query only.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { Activities } from '../activities';
import type { ComputeResult } from '../activities/compute';
import type { FinishInput } from '../activities/finish';
import type { ObjectInfo } from '../activities/objects';
import type { RunPlan } from '../activities/staging';
import { DEFAULTS } from '../contract/defaults';
import {
  chooseJob,
  isCsvJob,
  isJobName,
  JOBS,
  JOB_NAMES,
  outputKeyFor,
  validatesRows,
  type CsvDelimiter,
  type JobName,
} from '../contract/jobs';
import { INPUT_METADATA, OUTPUT_METADATA, rejectsKeyFor, statsKeyFor } from '../contract/layout';
import type { PlannedChunk, SourceVersion } from '../contract/objects';
import type { ChunksReport, FileReport, Summary } from '../contract/reports';
import {
  chunkProgressSignal,
  messageReceivedSignal,
  progressQuery,
  SA,
  type ChunkCounts,
  type ChunkOutcome,
  type ProcessFileInput,
  type ProcessFileOptions,
  type ProcessFileResult,
  type Progress,
  type QueueMessage,
  type Route,
  type Stage,
} from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { failureOf } from './failures';
import {
  chunkSettings,
  csvDelimiterSetting,
  fanOutChunks,
  toleratedFailures,
  type ChunkSettings,
} from './process-chunks';
import { computeActivities, INTERRUPTED_ATTEMPTS } from './run-processor';

const QUICK_RETRY = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 8,
};
const LONG_RETRY = {
  initialInterval: '5 seconds',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
  // Mostly a crashed worker (the heartbeat stops): a merge resumes its upload where it stopped.
  maximumAttempts: INTERRUPTED_ATTEMPTS,
};

/** One S3 HeadObject, and the SQS calls: seconds each. */
const quick = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: QUICK_RETRY });
/** The plan's scan and the chunks' merge heartbeat as they stream: a crashed worker is noticed in minutes. */
const streaming = proxyActivities<Activities>({
  startToCloseTimeout: '1 hour',
  heartbeatTimeout: '2 minutes',
  retry: LONG_RETRY,
});
/** Reads and deletes of many small staging objects: they do not heartbeat. */
const bulk = proxyActivities<Activities>({ startToCloseTimeout: '10 minutes', retry: LONG_RETRY });
/** Verify, report, acknowledge: a few requests. */
const finishing = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', retry: QUICK_RETRY });

/** Longest error text kept per failed chunk in the report. */
const MAX_CHUNK_ERROR_CHARS = 500;

/**
 * `pool` files go to AWS Batch, `inline` ones to the worker's thread pool, any other type to ECS; a file
 * with no type goes inline when it is no larger than `inlineMaxBytes` (0: never), to ECS otherwise.
 */
export function routeFor(processorType: string | undefined, size: number, inlineMaxBytes: number): Route {
  if (processorType === 'pool') return 'batch';
  if (processorType === 'inline') return 'inline';
  if (processorType === undefined && inlineMaxBytes > 0 && size <= inlineMaxBytes) return 'inline';
  return 'ecs';
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

/** The file as inspection found it, and what it decided. */
interface InspectedFile {
  info: ObjectInfo;
  source: SourceVersion;
  job: JobName;
  processorType: string;
  route: Route;
  settings: ChunkSettings;
  /** CSV jobs: the field separator of the object's metadata, else of its schema (else a comma, in the processor). */
  delimiter: CsvDelimiter | undefined;
  /** The schema the object's metadata names, for the validating jobs (else the processor's default). */
  schema?: string;
  destinationKey: string;
  rejectsKey: string;
  processedAt: string;
}

/** What a run hands to `finish`. */
interface RunOutcome {
  output: FinishInput['output'];
  summary: Summary;
  chunks: ChunksReport;
  status: FileReport['status'];
  /** What actually ran it: `inline`, `local`, `batch` or `ecs`. */
  backend: string;
  statsKey?: string;
  /** text-to-pdf's fields of the report. */
  pdf?: Pick<FileReport, 'pages' | 'lines' | 'invalidSequences' | 'missingGlyphs'>;
  result: Partial<ProcessFileResult>;
}

/** The messages of one file: the signal handler, the visibility keeper, the acknowledgements. */
function trackMessages(options: ProcessFileOptions, progress: Progress) {
  const visibilitySeconds = options.visibilityTimeoutSeconds ?? DEFAULTS.visibilityTimeoutSeconds;
  /** Messages by id, each with its latest receipt handle; duplicates of one notification all land here. */
  const messages = new Map<string, QueueMessage>();
  /**
   * The receipt handle each message was deleted with. A message received again meanwhile (its hand-over
   * was retried) has a newer handle, and only that one deletes it: it is pending again.
   */
  const acknowledged = new Map<string, string>();
  setHandler(messageReceivedSignal, (m) => {
    const known = messages.get(m.messageId);
    if (!known || m.receiveCount >= known.receiveCount) messages.set(m.messageId, m);
    progress.messages = messages.size;
  });
  const pending = () =>
    [...messages.values()].filter((m) => acknowledged.get(m.messageId) !== m.receiptHandle);

  // The ingress receives each message invisible for one extension; the workflow extends them every third of
  // it, so a file that takes less than that costs no extension at all.
  let finished = false;
  const keeper = (async () => {
    try {
      while (!(await condition(() => finished, `${Math.floor(visibilitySeconds / 3)} seconds`))) {
        const batch = pending();
        if (batch.length === 0) continue;
        try {
          await quick.extendVisibility(batch, visibilitySeconds);
        } catch (err) {
          // A failed extension only risks an early redelivery, which the workflow ID absorbs.
          if (isCancellation(err)) throw err;
        }
      }
    } catch (err) {
      // A cancelled workflow stops keeping its messages; the main flow releases them.
      if (!isCancellation(err)) throw err;
    }
  })();

  return {
    pending,
    get acknowledged() {
      return acknowledged.size;
    },
    markAcknowledged(batch: readonly QueueMessage[]) {
      for (const m of batch) acknowledged.set(m.messageId, m.receiptHandle);
    },
    /** Stops renewing the messages' visibility. */
    async stopKeeper() {
      finished = true;
      await keeper;
    },
    /** Acknowledges every message, including any that arrives while acknowledging. */
    async acknowledgeAll() {
      for (let batch = pending(); batch.length > 0; batch = pending()) {
        await quick.acknowledge(batch);
        for (const m of batch) acknowledged.set(m.messageId, m.receiptHandle);
      }
    },
  };
}

export async function processFile({ object, options = {} }: ProcessFileInput): Promise<ProcessFileResult> {
  const progress: Progress = { stage: 'received', messages: 0 };
  setHandler(progressQuery, () => progress);
  const messages = trackMessages(options, progress);
  const compute = computeActivities(options);
  /** The stage in the query; with `attributes`, in one search-attribute update too. */
  const setStage = (stage: Stage, attributes?: SearchAttributeUpdatePair[]) => {
    progress.stage = stage;
    if (attributes) upsertSearchAttributes([{ key: SA.stage, value: stage }, ...attributes]);
  };

  /** Inspect: the object's version, size and metadata; the job, the route and the chunk settings. */
  async function inspect(): Promise<InspectedFile> {
    setStage('inspecting');
    const info = await quick.inspectObject(object);
    const declaredType = info.metadata[INPUT_METADATA.processorType];
    const processorType = declaredType ?? 'default';
    const route = routeFor(declaredType, info.size, options.inlineMaxBytes ?? DEFAULTS.inlineMaxBytes);
    const job = chooseJob(info.key, info.metadata[INPUT_METADATA.job], info.schema);
    Object.assign(progress, { route, processorType, ...(job ? { job } : {}) });
    const details = [
      { key: SA.objectSize, value: info.size },
      { key: SA.processorType, value: processorType },
      { key: SA.route, value: route },
      ...(job ? [{ key: SA.job, value: job }] : []),
    ];
    if (!job || !isJobName(job)) {
      setStage('failed', details);
      throw ApplicationFailure.create({
        message:
          `no job for s3://${info.bucket}/${info.key}: ` +
          (job ? `unknown job "${job}" in x-amz-meta-job` : 'its extension matches no job') +
          `. Set x-amz-meta-job to one of ${JOB_NAMES.join(', ')} and upload it again.`,
        type: FailureType.unknownJob,
        nonRetryable: true,
      });
    }
    let settings: ChunkSettings;
    let delimiter: CsvDelimiter | undefined;
    try {
      settings = chunkSettings(info.metadata, options);
      // The object's, else its schema's: the chunk planner reads the file with it too.
      delimiter = isCsvJob(job) ? (csvDelimiterSetting(info.metadata) ?? info.schema.delimiter) : undefined;
    } catch (err) {
      setStage('failed', details);
      throw err;
    }
    setStage(isCsvJob(job) && info.size > settings.chunkSize ? 'planning' : 'processing', details);
    const destinationKey = outputKeyFor(info.key, job);
    return {
      info,
      source: {
        bucket: info.bucket,
        key: info.key,
        etag: info.etag,
        ...(info.versionId ? { versionId: info.versionId } : {}),
      },
      job,
      processorType,
      route,
      settings,
      delimiter,
      ...(validatesRows(job) && info.schema.named ? { schema: info.schema.name } : {}),
      destinationKey,
      rejectsKey: rejectsKeyFor(destinationKey),
      processedAt: new Date(workflowInfo().runStartTime).toISOString(),
    };
  }

  /**
   * Plan: a CSV file larger than its chunk size is scanned for chunk boundaries (the plan, in staging);
   * anything else runs whole, with no activity and no staging object.
   */
  async function plan(file: InspectedFile): Promise<RunPlan | undefined> {
    if (!isCsvJob(file.job) || file.info.size <= file.settings.chunkSize) return undefined;
    const planned = await streaming.planRun({
      source: file.source,
      size: file.info.size,
      chunkSize: file.settings.chunkSize,
      csv: true,
      ...(file.delimiter ? { delimiter: file.delimiter } : {}),
      processedAt: file.processedAt,
    });
    // A rerun of the same version keeps the first run's stamp, so its outputs are the same bytes.
    file.processedAt = planned.processedAt;
    return planned;
  }

  /** Run whole: one processor run on the file's route (a Batch job out of capacity goes to ECS). */
  async function runWhole(file: InspectedFile): Promise<RunOutcome> {
    setStage('processing');
    // Batch and ECS containers cannot hand back their statistics: they leave them in the output bucket.
    const statsKey = file.route === 'inline' ? undefined : statsKeyFor(file.destinationKey);
    const request = {
      job: file.job,
      source: file.source,
      destinationKey: file.destinationKey,
      processedAt: file.processedAt,
      ...(file.delimiter ? { delimiter: file.delimiter } : {}),
      ...(file.schema ? { schema: file.schema } : {}),
      ...(statsKey ? { statsKey } : {}),
    };
    const started = Date.now();
    let run: ComputeResult;
    try {
      run = await compute.runProcessor({ ...request, route: file.route });
    } catch (err) {
      // Batch on Spot can wait for capacity for hours: the backend gave up on it, so ECS takes the file.
      if (failureOf(err).type !== FailureType.capacityUnavailable) throw err;
      progress.rerouted = failureOf(err).message;
      run = await compute.runProcessor({ ...request, route: 'ecs' });
    }
    Object.assign(progress, { backend: run.backend, awsRequest: run.awsRequest });
    progress.output = `s3://${run.destination.bucket}/${run.destination.key}`;
    const summary = run.summary!;
    if (isCsvJob(file.job)) checkRows(summary, undefined);
    return {
      output: run.output ? { stored: run.output } : { key: run.destination.key },
      summary,
      status: 'processed',
      backend: run.backend,
      ...(statsKey ? { statsKey } : {}),
      chunks: {
        total: 1,
        done: 1,
        reused: 0,
        failed: 0,
        chunkSize: file.settings.chunkSize,
        list: [
          {
            index: 0,
            status: 'done',
            start: 0,
            end: file.info.size,
            seconds: (Date.now() - started) / 1000,
            backend: run.backend,
            runId: run.runId,
          },
        ],
      },
      // A PDF's report says what it holds, and which scripts it could not show.
      ...(file.job === 'text-to-pdf'
        ? {
            pdf: {
              pages: run.stats.pages,
              lines: run.stats.linesIn,
              ...(run.stats.invalidSequences ? { invalidSequences: run.stats.invalidSequences } : {}),
              ...(run.missingGlyphs ? { missingGlyphs: run.missingGlyphs } : {}),
            },
          }
        : {}),
      result: {
        backend: run.backend,
        runId: run.runId,
        ...(progress.rerouted ? { rerouted: progress.rerouted } : {}),
        awsRequest: run.awsRequest,
        stats: run.stats,
      },
    };
  }

  /**
   * Run chunked: the chunks in child workflows, then the parts merged into the output. Failed chunks within
   * the tolerance keep the staging folder, so that a redrive reruns only them.
   */
  async function runChunked(file: InspectedFile, planned: RunPlan): Promise<RunOutcome> {
    const { job, source, processedAt, settings, delimiter, schema, destinationKey, rejectsKey, info } = file;
    const stagingPrefix = planned.stagingPrefix;
    const chunks: PlannedChunk[] = planned.chunks.map((c, index) => ({ index, ...c }));
    const counts: ChunkCounts = { total: chunks.length, done: 0, reused: 0, failed: 0 };
    progress.chunks = counts;
    const showCounts = () =>
      upsertSearchAttributes([
        { key: SA.itemsTotal, value: counts.total },
        { key: SA.itemsDone, value: counts.done + counts.reused },
        { key: SA.itemsFailed, value: counts.failed },
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
      {
        route: file.route,
        job,
        source,
        processedAt,
        stagingPrefix,
        header: planned.header,
        ...(delimiter ? { delimiter } : {}),
        ...(schema ? { schema } : {}),
      },
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

    setStage('merging', []);
    const succeeded = outcomes.filter((o) => o.status !== 'failed').map((o) => o.index);
    const summary = await bulk.summarizeChunks({ stagingPrefix, indices: succeeded });
    checkRows(summary, failed.length === 0 ? planned.rows : undefined);
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
    const merge = (kind: 'part' | 'rejects', key: string) =>
      streaming.mergeParts({
        stagingPrefix,
        kind,
        indices: succeeded,
        destinationKey: key,
        contentType: JOBS[job].contentType,
        metadata,
      });
    if (validatesRows(job)) {
      await merge('rejects', rejectsKey);
      checkRejectedShare(summary, rejectsKey);
    }
    await merge('part', destinationKey);
    progress.output = `s3://${info.bucket}/${destinationKey}`;
    if (failed.length === 0) await bulk.deleteStaging(stagingPrefix);
    return {
      output: { key: destinationKey },
      summary,
      status: failed.length > 0 ? 'processed-with-failed-chunks' : 'processed',
      backend: backendOf(outcomes) ?? file.route,
      chunks: {
        ...counts,
        chunkSize: planned.chunkSize,
        ...(failed.length > 0 ? { staging: stagingPrefix } : {}),
        list: outcomes.map((o) => ({
          ...o,
          start: chunks[o.index]!.start,
          end: chunks[o.index]!.end,
          ...(o.error ? { error: o.error.slice(0, MAX_CHUNK_ERROR_CHARS) } : {}),
        })),
      },
      result: {
        stats: { rowsIn: summary.rowsIn, rowsOut: summary.rowsOut, rowsRejected: summary.rowsRejected },
      },
    };
  }

  /** Finish: verify the output, write the report, acknowledge the messages (one activity), show the end. */
  async function finish(file: InspectedFile, run: RunOutcome): Promise<ProcessFileResult> {
    const { info, source, job, route, processorType, processedAt } = file;
    setStage('verifying');
    await messages.stopKeeper();
    const batch = messages.pending();
    const { output, report } = await finishing.finishFile({
      source,
      processedAt,
      output: run.output,
      allowEmpty: info.size === 0,
      ...(run.statsKey ? { statsKey: run.statsKey } : {}),
      ...(validatesRows(job) ? { rejectsKey: file.rejectsKey } : {}),
      messages: batch,
      report: {
        status: run.status,
        object: { ...source, size: info.size },
        job,
        route,
        processorType,
        processedAt,
        // Workflow time: the finish step's task time, so a replay computes the same value.
        durationSeconds: (Date.now() - workflowInfo().startTime.getTime()) / 1000,
        ...(isCsvJob(job)
          ? {
              rows: { in: run.summary.rowsIn, out: run.summary.rowsOut, rejected: run.summary.rowsRejected },
              bareQuoteFields: run.summary.bareQuoteFields,
              rejectsByRule: run.summary.rejectsByRule,
              columns: run.summary.columns,
              totals: run.summary.totals,
              ...(run.summary.dynamodb
                ? { dynamodb: { ...run.summary.dynamodb, itemsRejected: run.summary.rowsRejected } }
                : {}),
            }
          : {}),
        chunks: run.chunks,
        ...run.pdf,
      },
    });
    messages.markAcknowledged(batch);
    // Duplicates signalled while finishing.
    await messages.acknowledgeAll();
    progress.output = `s3://${output.bucket}/${output.key}`;
    setStage('done', [{ key: SA.backend, value: run.backend }]);
    return {
      status: 'processed',
      object: { ...object, size: info.size, etag: info.etag },
      route,
      processorType,
      job,
      processedAt,
      ...run.result,
      output,
      ...(run.chunks.total > 1 ? { chunks: countsOf(run.chunks) } : {}),
      report,
      messagesAcknowledged: messages.acknowledged,
    };
  }

  try {
    const file = await inspect();
    const planned = await plan(file);
    const run = planned && planned.chunks.length > 1 ? await runChunked(file, planned) : undefined;
    // A file the scan found to be one chunk runs whole; its plan is not needed any more.
    if (planned && !run) await bulk.deleteStaging(planned.stagingPrefix);
    return await finish(file, run ?? (await runWhole(file)));
  } catch (err) {
    await messages.stopKeeper();
    if (isCancellation(err)) {
      // Cancelled (by a person or a timeout): the job was stopped; let SQS redeliver the message.
      setStage('failed', []);
      await CancellationScope.nonCancellable(async () => {
        const batch = messages.pending();
        if (batch.length > 0)
          await quick.release(batch, { type: FailureType.cancelled, message: 'workflow cancelled' });
      });
      throw err;
    }
    const failure = failureOf(err);
    progress.error = failure.message;
    if (failure.type === FailureType.objectSuperseded) {
      await messages.acknowledgeAll();
      setStage('skipped', []);
      return {
        status: 'skipped',
        object,
        reason: failure.message,
        messagesAcknowledged: messages.acknowledged,
      };
    }
    if (progress.stage !== 'failed') setStage('failed', []);
    await quick.writeFailureReport({
      object,
      type: failure.type,
      message: failure.message,
      disposition: failure.permanent ? 'dead-letter' : 'redelivery',
    });
    const batch = messages.pending();
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

/** The backend most chunks ran on (chunks reused from an earlier run say none). */
function backendOf(outcomes: readonly ChunkOutcome[]): string | undefined {
  const counts = new Map<string, number>();
  for (const o of outcomes) if (o.backend) counts.set(o.backend, (counts.get(o.backend) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

function countsOf({ total, done, reused, failed }: ChunksReport): ChunkCounts {
  return { total, done, reused, failed };
}

/**
 * The compute activity: starts one processor run on the routed backend and waits for it. Batch, ECS and the
 * local process share {@link Backend}; whichever runs it, the processor gets the same environment
 * (docs/architecture.md, "Processor"), and an attempt retried after a worker crash resumes the run its
 * predecessor started.
 */
import { traceContextEnvironment } from '../common/tracing';
import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType, PERMANENT_EXIT_CODES } from '../contract/failures';
import { CSV_DELIMITER_NAMES, JOB_TAGS, type CsvDelimiter, type JobName } from '../contract/jobs';
import type { PlannedChunk, SourceVersion } from '../contract/objects';
import type { MissingGlyphs, ProcessorStats, Summary } from '../contract/reports';
import type { UploadedOutput } from '../contract/threads';
import type { Route } from '../contract/workflow';
import type { OutputFacts } from './objects';
import { outputBucketOf } from './output-bucket';
import { summarize } from './staging';

/** What the workflow asks for. */
export interface ComputeRequest {
  route: Route;
  job: JobName;
  source: SourceVersion;
  destinationKey: string;
  /** Stamped on the output; fixed by the workflow so that retries write identical bytes. */
  processedAt: string;
  /** Where the processor writes its statistics (JSON) in the output bucket once the output is complete. */
  statsKey?: string;
  /** Where a validating job writes its rejects in the output bucket (default `rejects/<destinationKey>`). */
  rejectsKey?: string;
  /** CSV jobs: the field separator of the object's metadata or schema (otherwise a comma). */
  delimiter?: CsvDelimiter;
  /** Validating jobs: the schema the object's metadata names (otherwise the processor's default, SCHEMA). */
  schema?: string;
  /** One chunk of a large CSV file instead of the whole file; all but the first get the header, which they lack. */
  chunk?: PlannedChunk & { header?: string };
  /**
   * Longest the run may take in this attempt: then it is stopped and the attempt fails as a processor
   * failure, which the workflow counts, unlike an interrupted attempt, which Temporal retries.
   */
  timeoutSeconds: number;
}

/** A started run: enough to find it again from another attempt. */
export interface RunHandle {
  backend: string;
  /** Batch job ID, ECS task ARN, or local process ID. */
  id: string;
}

/** What the compute activity heartbeats: a retried attempt reads it back to resume the same run. */
export interface RunProgress extends RunHandle {
  /** The backend's status: SUBMITTED, RUNNABLE, RUNNING, … (Batch and ECS words; mirrored locally). */
  status: string;
}

/** One processor run as a container would see it. */
export interface ProcessorRun {
  /** The processor contract: JOB, SOURCE_BUCKET, OBJECT_KEY, DEST_BUCKET, DEST_KEY, …; nothing else. */
  environment: Record<string, string>;
  /** A valid AWS Batch job name, unique per workflow and attempt. */
  jobName: string;
  /** At most 36 characters, the same for every attempt of a workflow (ECS `startedBy`). */
  startedBy: string;
  /** Idempotency token for the submission of this attempt (ECS `clientToken`, 64 characters at most). */
  clientToken: string;
  /** Tags tying the run to the object and the workflow. */
  tags: Record<string, string>;
  /** A run an earlier attempt started on this backend, which may still go on. */
  resume?: RunHandle;
  /** Call as soon as the run exists, then on every poll: Temporal keeps the last details for a retry. */
  heartbeat: (progress: RunProgress) => void;
  /** Aborted when the workflow cancels the activity, it times out, or the worker shuts down. */
  signal: AbortSignal;
  /**
   * Whether an abort should stop the run. Not on a worker shutdown (a deploy): the run goes on and the
   * retried attempt on another worker resumes it.
   */
  stopRunOnAbort: () => boolean;
  /** Sleeps, rejecting early on cancellation. */
  sleep: (ms: number) => Promise<void>;
}

/** How a run ended. */
export interface ProcessorOutcome {
  handle: RunHandle;
  succeeded: boolean;
  /** The processor's exit code, when the container got to exit. */
  exitCode?: number;
  /** What the backend says about the end: status reason, stop code, stderr tail. */
  detail: string;
  /** Where to find the full logs (log stream, local process). */
  logRef: string;
  /** The JSON line the processor printed on success, where the backend can read it. */
  report?: ProcessorStats;
  /** The main output as S3 stored it, where the backend saw the upload (inline runs). */
  output?: UploadedOutput;
}

export interface Backend {
  /** `local`, `batch` or `ecs`: recorded on the workflow. */
  readonly name: string;
  /** The exact AWS request (SubmitJob or RunTask input) this run is, or would be in aws mode, sent as. */
  request(run: ProcessorRun): object;
  run(run: ProcessorRun): Promise<ProcessorOutcome>;
  /** Releases what the backend holds (the inline pool's threads); the worker calls it when it stops. */
  close?(): Promise<void>;
}

export interface ComputeDeps {
  /** The backend for each route. */
  backends: Record<Route, Backend>;
  /** Reads the statistics a Batch or ECS run of a whole file left at `statsKey`. */
  s3: S3Client;
  outputBucket: string;
  /** The table csv-to-dynamodb loads rows into (DYNAMODB_TABLE), handed to the processor. */
  dynamodbTable?: string | undefined;
  /** Emulator endpoint handed to the processor; unset on AWS. */
  awsEndpointUrl?: string;
  awsRegion: string;
}

export interface ComputeResult {
  backend: string;
  runId: string;
  /** The SubmitJob or RunTask input for this run (what AWS receives, or would in aws mode). */
  awsRequest: object;
  destination: { bucket: string; key: string };
  stats: Record<string, number>;
  /** text-to-pdf: the characters no font had, by script, as the processor reported them. */
  missingGlyphs?: MissingGlyphs;
  /** A whole file's statistics (not a chunk's): from the run itself, or from `statsKey`. */
  summary?: Summary;
  /** The output as S3 stored it, when the backend saw the upload: it is verified without a HeadObject. */
  output?: OutputFacts;
}

/**
 * The environment of the processor contract, identical for Batch, ECS and local runs; `TRACEPARENT` continues
 * the trace of the activity that runs it.
 */
export function processorEnvironment(
  req: ComputeRequest,
  deps: Omit<ComputeDeps, 'backends' | 's3'>,
): Record<string, string> {
  return {
    JOB: req.job,
    SOURCE_BUCKET: req.source.bucket,
    OBJECT_KEY: req.source.key,
    SOURCE_ETAG: req.source.etag,
    ...(req.source.versionId ? { SOURCE_VERSION_ID: req.source.versionId } : {}),
    DEST_BUCKET: deps.outputBucket,
    DEST_KEY: req.destinationKey,
    PROCESSED_AT: req.processedAt,
    ...(req.statsKey ? { STATS_KEY: req.statsKey } : {}),
    ...(req.rejectsKey ? { REJECTS_KEY: req.rejectsKey } : {}),
    ...(req.delimiter ? { CSV_DELIMITER: CSV_DELIMITER_NAMES[req.delimiter] } : {}),
    ...(req.schema ? { SCHEMA: req.schema } : {}),
    ...(req.job === 'csv-to-dynamodb' && deps.dynamodbTable ? { DYNAMODB_TABLE: deps.dynamodbTable } : {}),
    ...(req.chunk
      ? {
          RANGE_START: String(req.chunk.start),
          RANGE_END: String(req.chunk.end),
          FIRST_ROW: String(req.chunk.firstRow),
          FIRST_LINE: String(req.chunk.firstLine),
          ...(req.chunk.header !== undefined ? { CSV_HEADER: req.chunk.header } : {}),
        }
      : {}),
    AWS_REGION: deps.awsRegion,
    ...(deps.awsEndpointUrl ? { AWS_ENDPOINT_URL: deps.awsEndpointUrl } : {}),
    ...traceContextEnvironment(),
  };
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

/** Batch job names: letters, digits, `-` and `_`, starting with a letter or digit, 128 at most. */
export function jobNameFor(workflowId: string, attempt: number): string {
  const readable = workflowId
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^[-_]+/, '')
    .slice(0, 96);
  return `${readable || 'job'}-${digest(workflowId).slice(0, 12)}-a${attempt}`;
}

/** Sleeps like `sleeping`, but rejects as soon as `limit` aborts. */
function sleepUnless(ms: number, limit: AbortSignal, sleeping: Promise<void>): Promise<void> {
  if (limit.aborted) return Promise.reject(limit.reason as Error);
  return new Promise((resolve, reject) => {
    const stop = () => reject(limit.reason as Error);
    limit.addEventListener('abort', stop, { once: true });
    sleeping.then(resolve, reject).finally(() => limit.removeEventListener('abort', stop));
  });
}

/** Tag values are limited to 256 characters. */
const tagValue = (value: string) => value.slice(0, 256);

export function createComputeActivities(deps: ComputeDeps) {
  const bucket = outputBucketOf(deps.s3, deps.outputBucket);
  /** The statistics of a whole-file run: what the backend read from the run, or what it left at `statsKey`. */
  const statisticsOf = async (req: ComputeRequest, outcome: ProcessorOutcome): Promise<ProcessorStats> => {
    if (outcome.report) return outcome.report;
    const text = req.statsKey === undefined ? undefined : (await bucket.getText(req.statsKey))?.text;
    if (text === undefined) {
      throw ApplicationFailure.create({
        message: `the statistics of ${req.job} on s3://${req.source.bucket}/${req.source.key} are missing although it succeeded (${req.statsKey ?? 'no STATS_KEY'})`,
        type: FailureType.outputInvalid,
      });
    }
    return JSON.parse(text) as ProcessorStats;
  };
  return {
    /**
     * Starts the run and waits for it, heartbeating. The processor's permanent exit codes (those of the
     * non-retryable failures of contract/failures.ts: invalid input, input missing) are permanent InvalidInput
     * failures; a run that failed or outlived `timeoutSeconds` is a ProcessorFailed failure, which the
     * workflow retries as it chooses; anything else (the worker crashed or shut down, an AWS call failed)
     * is an interruption, which Temporal retries, resuming the run.
     */
    async runProcessor(req: ComputeRequest): Promise<ComputeResult> {
      if (req.job === 'csv-to-dynamodb' && !deps.dynamodbTable) {
        // Every attempt would fail the same way until the worker is configured.
        throw ApplicationFailure.create({
          message:
            `s3://${req.source.bucket}/${req.source.key} asks for csv-to-dynamodb, but this worker has no table: ` +
            'set DYNAMODB_TABLE on the worker (the CDK app does), restart it, then redrive the dead letter.',
          type: FailureType.processorFailed,
          nonRetryable: true,
        });
      }
      const ctx = Context.current();
      const limit = AbortSignal.timeout(req.timeoutSeconds * 1000);
      const execution = ctx.info.workflowExecution?.workflowId ?? ctx.info.activityId;
      // Chunks of one file run side by side: each is a run of its own.
      const workflowId = req.chunk ? `${execution}#${req.chunk.index + 1}` : execution;
      const backend = deps.backends[req.route];
      const previous = ctx.info.heartbeatDetails as RunProgress | undefined;
      const run: ProcessorRun = {
        environment: processorEnvironment(req, deps),
        jobName: jobNameFor(workflowId, ctx.info.attempt),
        startedBy: `wf-${digest(workflowId).slice(0, 32)}`,
        clientToken: digest(`${workflowId}\0${ctx.info.activityId}\0${ctx.info.attempt}`),
        tags: {
          [JOB_TAGS.bucket]: tagValue(req.source.bucket),
          [JOB_TAGS.key]: tagValue(req.source.key),
          [JOB_TAGS.workflowId]: tagValue(workflowId),
        },
        ...(previous?.backend === backend.name
          ? { resume: { backend: previous.backend, id: previous.id } }
          : {}),
        heartbeat: (progress) => ctx.heartbeat(progress),
        signal: AbortSignal.any([ctx.cancellationSignal, limit]),
        stopRunOnAbort: () => limit.aborted || ctx.cancellationDetails?.workerShutdown !== true,
        sleep: (ms) => sleepUnless(ms, limit, ctx.sleep(ms)),
      };
      const awsRequest = backend.request(run);
      const uri =
        `s3://${req.source.bucket}/${req.source.key}` +
        (req.chunk ? ` (chunk ${req.chunk.index + 1}, bytes ${req.chunk.start}-${req.chunk.end - 1})` : '');
      let outcome: ProcessorOutcome;
      try {
        outcome = await backend.run(run);
      } catch (err) {
        if (!limit.aborted || ctx.cancellationSignal.aborted) throw err;
        throw ApplicationFailure.create({
          message:
            `${req.job} on ${uri} ran longer than ${req.timeoutSeconds}s on ${backend.name} and was stopped. ` +
            'Raise COMPUTE_TIMEOUT_SECONDS if the file needs longer, or make it smaller (chunks).',
          type: FailureType.processorFailed,
        });
      }
      if (!outcome.succeeded) {
        const permanent = outcome.exitCode !== undefined && PERMANENT_EXIT_CODES.includes(outcome.exitCode);
        throw ApplicationFailure.create({
          message:
            `${req.job} on ${uri} failed on ${backend.name} (${outcome.handle.id}` +
            `${outcome.exitCode === undefined ? '' : `, exit code ${outcome.exitCode}`}; logs: ${outcome.logRef})` +
            (permanent ? ': the file is invalid, fix it and upload it again' : '') +
            (outcome.detail ? `\n${outcome.detail}` : ''),
          type: permanent ? FailureType.invalidInput : FailureType.processorFailed,
          nonRetryable: permanent,
          details: [{ ...outcome.handle, exitCode: outcome.exitCode, logRef: outcome.logRef }],
        });
      }
      const stats = Object.fromEntries(
        Object.entries(outcome.report ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number'),
      );
      const summary = req.chunk ? undefined : summarize([await statisticsOf(req, outcome)]);
      const missingGlyphs = outcome.report?.missingGlyphs;
      if (missingGlyphs) {
        ctx.log.warn(`${uri}: ${missingGlyphs.count} characters have no glyph in any font, shown as U+FFFD`, {
          scripts: missingGlyphs.scripts,
        });
      }
      return {
        backend: backend.name,
        runId: outcome.handle.id,
        awsRequest,
        destination: { bucket: deps.outputBucket, key: req.destinationKey },
        stats,
        ...(missingGlyphs ? { missingGlyphs } : {}),
        ...(summary ? { summary } : {}),
        ...(outcome.output
          ? {
              output: {
                bucket: deps.outputBucket,
                key: outcome.output.key,
                size: outcome.output.size,
                sourceEtag: outcome.output.sourceEtag,
              },
            }
          : {}),
      };
    },
  };
}

/**
 * The compute activity: runs one processor job on the routed backend. Batch, ECS and the local process
 * share {@link ComputeBackend}; whichever runs it, the processor gets the same environment (design.md).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { PERMANENT_EXIT_CODES, type JobName } from '../common/jobs';
import { FailureType, type Route } from '../workflows/definitions';

/** What the workflow asks for. */
export interface ComputeRequest {
  route: Route;
  job: JobName;
  source: { bucket: string; key: string; etag: string; versionId?: string };
  destinationKey: string;
  /** Stamped on the output; fixed by the workflow so that retries write identical bytes. */
  processedAt: string;
}

/** One processor run as a container would see it. */
export interface ProcessorRun {
  /** The processor contract: SOURCE_BUCKET, OBJECT_KEY, DEST_BUCKET, DEST_KEY, JOB, …; nothing else. */
  environment: Record<string, string>;
  /** Called periodically while the job runs, with what identifies the job. */
  heartbeat: (details: Record<string, unknown>) => void;
  /** Aborted when the workflow cancels the activity: the backend stops the job. */
  signal: AbortSignal;
}

/** How a run ended. `exitCode` 0 is success. */
export interface ProcessorOutcome {
  exitCode: number;
  /** The last lines the processor wrote to stderr, for the failure message. */
  stderrTail: string;
  /** The JSON line the processor printed on success. */
  report?: Record<string, unknown>;
  /** Where to find the full logs (log stream, local pid). */
  logRef: string;
}

export interface ComputeBackend {
  /** `local`, `batch` or `ecs`: recorded on the workflow. */
  readonly name: string;
  run(run: ProcessorRun): Promise<ProcessorOutcome>;
}

export interface ComputeDeps {
  /** The backend for each route (locally, both are the local process). */
  backends: Record<Route, ComputeBackend>;
  outputBucket: string;
  /** Emulator endpoint handed to the processor; unset on AWS. */
  awsEndpointUrl?: string;
  awsRegion: string;
}

export interface ComputeResult {
  executor: string;
  destination: { bucket: string; key: string };
  stats: Record<string, number>;
}

/** The environment of the processor contract, identical for Batch, ECS and local runs. */
export function processorEnvironment(
  req: ComputeRequest,
  deps: Omit<ComputeDeps, 'backends'>,
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
    AWS_REGION: deps.awsRegion,
    ...(deps.awsEndpointUrl ? { AWS_ENDPOINT_URL: deps.awsEndpointUrl } : {}),
  };
}

export function createComputeActivities(deps: ComputeDeps) {
  return {
    /**
     * Runs the job and waits for it, heartbeating. The processor's invalid-input exit codes are permanent
     * failures; any other failure is retried by Temporal.
     */
    async runProcessor(req: ComputeRequest): Promise<ComputeResult> {
      const ctx = Context.current();
      const backend = deps.backends[req.route];
      const outcome = await backend.run({
        environment: processorEnvironment(req, deps),
        heartbeat: (details) => ctx.heartbeat(details),
        signal: ctx.cancellationSignal,
      });
      const uri = `s3://${req.source.bucket}/${req.source.key}`;
      if (outcome.exitCode !== 0) {
        const permanent = PERMANENT_EXIT_CODES.includes(outcome.exitCode);
        throw ApplicationFailure.create({
          message:
            `${req.job} on ${uri} exited with code ${outcome.exitCode} (${backend.name}, ${outcome.logRef})` +
            (permanent ? ': the file is invalid, fix it and upload it again' : '') +
            (outcome.stderrTail ? `\n${outcome.stderrTail}` : ''),
          type: permanent ? FailureType.invalidInput : FailureType.processorFailed,
          nonRetryable: permanent,
          details: [{ exitCode: outcome.exitCode, logRef: outcome.logRef }],
        });
      }
      const stats = Object.fromEntries(
        Object.entries(outcome.report ?? {}).filter((e): e is [string, number] => typeof e[1] === 'number'),
      );
      return {
        executor: backend.name,
        destination: { bucket: deps.outputBucket, key: req.destinationKey },
        stats,
      };
    },
  };
}

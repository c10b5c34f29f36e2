/**
 * Every failure the pipeline names, in one table: the `ApplicationFailure.type` the workflow, the activities
 * and the ingress record it with (in search attributes, failure reports and dead letters), the exit codes a
 * process ends with for it, whether it is retryable, and the fix its message gives a person. The workflow
 * reads a processor's exit code alone: 0 is success, {@link PERMANENT_EXIT_CODES} mean that rerunning the
 * same job on the same bytes cannot succeed (only a new upload can), any other non-zero code is a failed run
 * worth retrying.
 */

/** One failure of the table. */
export interface FailureEntry {
  /** The `ApplicationFailure.type` it is recorded with. */
  readonly name: string;
  /**
   * The codes a process exits with for it, by their conventional name (sysexits.h, or the signal, as
   * 128 + its number); none when no process exits with it.
   */
  readonly exitCodes?: Readonly<Record<string, number>>;
  /**
   * Whether a rerun can succeed without a new upload: the workflow runs it again, or releases its message
   * for SQS to redeliver. A non-retryable one is dead-lettered. A throw site may still mark one instance
   * non-retryable (e.g. ProcessorFailed on a worker with no DynamoDB table, ChunksFailed when a chunk's input
   * is invalid).
   */
  readonly retryable: boolean;
  /** What to do about it, as its message tells a person. */
  readonly fix: string;
}

/** The failures, by the key code names them with. */
export const FAILURES = {
  objectMissing: {
    name: 'ObjectMissing',
    exitCodes: { EX_NOINPUT: 66 },
    retryable: false,
    fix: 'Upload the file again, or check the path or key.',
  },
  /** The object was overwritten or deleted since it was notified: the workflow skips it. */
  objectSuperseded: {
    name: 'ObjectSuperseded',
    retryable: false,
    fix: 'Nothing: the newer version is processed on its own notification.',
  },
  unknownJob: {
    name: 'UnknownJob',
    retryable: false,
    fix: 'Set x-amz-meta-job to one of the jobs its message lists, or give the file an extension that picks one, and upload it again.',
  },
  invalidInput: {
    name: 'InvalidInput',
    exitCodes: { EX_DATAERR: 65 },
    retryable: false,
    fix: 'Fix the file as its message says and upload it again.',
  },
  /** A processor run failed: an exit code outside the table, a stopped run, the time limit. */
  processorFailed: {
    name: 'ProcessorFailed',
    retryable: true,
    fix: 'Read the logs of the run; the workflow runs it again.',
  },
  outputInvalid: {
    name: 'OutputInvalid',
    retryable: true,
    fix: 'Nothing: the output is written again on the next run.',
  },
  /** Batch found no capacity for the job: the workflow reroutes the file to ECS. */
  capacityUnavailable: {
    name: 'CapacityUnavailable',
    retryable: false,
    fix: 'Nothing: the file runs on ECS instead.',
  },
  /** More chunks failed than the file tolerates. */
  chunksFailed: {
    name: 'ChunksFailed',
    retryable: true,
    fix: 'Fix the cause, then rerun only the failed chunks with npm run redrive.',
  },
  /** The notified bucket does not exist (deleted, or a notification naming a wrong one). */
  bucketMissing: {
    name: 'BucketMissing',
    retryable: false,
    fix: 'Create the bucket or correct the notification, then redrive the dead letter.',
  },
  /** Dead-lettered by the ingress: a notification of a bucket that is not an input bucket of the pipeline. */
  foreignBucket: {
    name: 'ForeignBucket',
    retryable: false,
    fix: 'Add the bucket to INPUT_BUCKETS or remove its notification.',
  },
  /** Dead-lettered by the ingress: a body that is not a usable S3 or EventBridge notification. */
  unusableMessage: {
    name: 'UnusableMessage',
    retryable: false,
    fix: 'Send S3 or EventBridge object notifications only to the queue.',
  },
  /** A workflow cancelled by a person or a timeout: its message is released for redelivery. */
  cancelled: {
    name: 'Cancelled',
    retryable: true,
    fix: 'Nothing: SQS delivers the message again.',
  },
  /**
   * An interruption, not an application failure: a timeout, a worker crash or shutdown, a failed AWS call,
   * or a processor stopped by SIGINT / SIGTERM (e.g. a cancelled activity).
   */
  transient: {
    name: 'Transient',
    exitCodes: { SIGINT: 130, SIGTERM: 143 },
    retryable: true,
    fix: 'Nothing: it is retried.',
  },
  /** An application failure thrown without a type. */
  untyped: {
    name: 'Error',
    retryable: true,
    fix: 'Read its message; give the failure a type of this table.',
  },
  /**
   * A bad or missing setting (a variable, an option, the schema file), found at start-up, or a chunk range
   * that does not fit the input. A processor run that exits with it counts as a failed run.
   */
  configuration: {
    name: 'Configuration',
    exitCodes: { EX_CONFIG: 78 },
    retryable: true,
    fix: 'Fix the setting its message names and start it again.',
  },
  /** The processor's command line is wrong (`npm run process`, run by a person). */
  usage: {
    name: 'Usage',
    exitCodes: { USAGE: 2 },
    retryable: true,
    fix: 'Correct the command line as the usage it prints shows.',
  },
} as const satisfies Record<string, FailureEntry>;

/** The failure types (`ApplicationFailure.type`) the workflow, the activities and the ingress agree on. */
export const FailureType = Object.fromEntries(
  Object.entries(FAILURES).map(([key, failure]) => [key, failure.name]),
) as { readonly [K in keyof typeof FAILURES]: (typeof FAILURES)[K]['name'] };

/** The fix the table gives for a failure type, if the type is one of the table's. */
export function fixOf(type: string): string | undefined {
  return Object.values(FAILURES as Record<string, FailureEntry>).find((failure) => failure.name === type)
    ?.fix;
}

/** The processor exit codes the workflow does not retry: those of the non-retryable failures. */
export const PERMANENT_EXIT_CODES: readonly number[] = Object.values(FAILURES as Record<string, FailureEntry>)
  .filter((failure) => !failure.retryable)
  .flatMap((failure) => Object.values(failure.exitCodes ?? {}))
  .sort((a, b) => a - b);

/**
 * An expected failure whose message already tells a person what happened and what to do, so it is printed
 * without a stack. `exitCode` (from {@link FAILURES}) is what the processor exits with; the other processes
 * exit 1, and so does the processor for one without. Its subclasses set it.
 */
export class ExplainedError extends Error {
  override name = 'ExplainedError';
  readonly exitCode?: number;
}

/** The input's content cannot be processed (e.g. broken CSV quoting): {@link FAILURES}' invalidInput. */
export class InvalidInputError extends ExplainedError {
  override name = 'InvalidInputError';
  override readonly exitCode = FAILURES.invalidInput.exitCodes.EX_DATAERR;
}

/**
 * The input object or file does not exist, or is no longer the version to process: {@link FAILURES}'
 * objectMissing.
 */
export class InputMissingError extends ExplainedError {
  override name = 'InputMissingError';
  override readonly exitCode = FAILURES.objectMissing.exitCodes.EX_NOINPUT;
}

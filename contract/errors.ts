/**
 * The processor's exit codes and the typed failures that carry them. The workflow reads the exit code alone:
 * 0 is success, a permanent code means that rerunning the same job on the same bytes cannot succeed (only a
 * new upload can), any other non-zero code is a transient failure worth retrying.
 */

/** The input's content cannot be processed (sysexits EX_DATAERR). */
export const EXIT_INVALID_INPUT = 65;
/** The input does not exist, or is no longer the version to process (sysexits EX_NOINPUT). */
export const EXIT_INPUT_MISSING = 66;
/** The exit codes the workflow does not retry. */
export const PERMANENT_EXIT_CODES: readonly number[] = [EXIT_INVALID_INPUT, EXIT_INPUT_MISSING];

/**
 * A failure that ends the processor with an exit code of its own. It is expected: its message says what
 * happened and what to do, so it is printed without a stack.
 */
export abstract class ExitCodeError extends Error {
  abstract readonly exitCode: number;
}

/** The input's content cannot be processed (e.g. broken CSV quoting). Exit code 65 (EX_DATAERR). */
export class InvalidInputError extends ExitCodeError {
  override name = 'InvalidInputError';
  readonly exitCode = EXIT_INVALID_INPUT;
}

/** The input object or file does not exist, or is no longer the version to process. Exit code 66 (EX_NOINPUT). */
export class InputMissingError extends ExitCodeError {
  override name = 'InputMissingError';
  readonly exitCode = EXIT_INPUT_MISSING;
}

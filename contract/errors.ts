/**
 * The two permanent processor failures. Each maps to an exit code that tells the workflow not to retry:
 * rerunning the same job on the same bytes cannot succeed, only a new upload can.
 */
import { EXIT_INPUT_MISSING, EXIT_INVALID_INPUT } from './jobs';

/** The input's content cannot be processed (e.g. broken CSV quoting). Exit code 65 (EX_DATAERR). */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
  readonly exitCode = EXIT_INVALID_INPUT;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The input object or file does not exist, or is no longer the version to process. Exit code 66 (EX_NOINPUT). */
export class InputMissingError extends Error {
  override name = 'InputMissingError';
  readonly exitCode = EXIT_INPUT_MISSING;

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

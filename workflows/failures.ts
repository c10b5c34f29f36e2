/** What went wrong, whether thrown in the workflow or by an activity. */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { FailureType } from '../contract/failures';

export interface Failure {
  /**
   * The `ApplicationFailure.type` (a {@link FailureType}): `untyped` when it has none, `transient` when the
   * error is no application failure.
   */
  type: string;
  message: string;
  /** Rerunning cannot help (a non-retryable application failure). */
  permanent: boolean;
}

/** The application failure behind an error: an activity's failure is its cause. */
export function failureOf(err: unknown): Failure {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) {
    return {
      type: cause.type ?? FailureType.untyped,
      message: cause.message,
      permanent: cause.nonRetryable === true,
    };
  }
  const message = cause instanceof Error ? cause.message : String(cause);
  return { type: FailureType.transient, message, permanent: false };
}

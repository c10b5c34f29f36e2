/** Errors shared by every process of the project. */

/**
 * An error whose message already tells a person what happened and what to do next, so it is printed
 * without a stack trace. Thrown at start-up by configuration parsing, the tool installer and the stack
 * launcher, and by processes that cannot reach a service.
 */
export class ExplainedError extends Error {
  override name = 'ExplainedError';
}

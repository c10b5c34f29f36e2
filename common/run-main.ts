/**
 * How every process of the project starts and ends: one place for fatal error output and the exit code (the
 * failures and their exit codes: contract/failures.ts).
 */
import { ExplainedError } from '../contract/failures';

/** How a process tells its expected failures from the others. */
export interface RunMainOptions {
  /**
   * The exit code of a failure (contract/failures.ts); undefined for one that exits 1. Without it every
   * failure exits 1.
   */
  exitCodeOf?: (err: unknown) => number | undefined;
  /**
   * Whether a failure's text is put after `component: ` (the default) unless it starts so already; false
   * prints it as it is (the processor, whose messages name their file, their variable or their option).
   */
  prefix?: boolean;
}

/** What a fatal error prints: its message alone for an expected failure (an {@link ExplainedError}), else its stack. */
export function failureText(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  return err instanceof ExplainedError ? err.message : (err.stack ?? err.message);
}

/**
 * Runs `main` and exits with its code (default 0). A fatal error prints `component: message` on stderr,
 * with the stack unless it is an {@link ExplainedError}, and exits 1; `options` may give expected failures
 * exit codes of their own.
 */
export function runMain(
  component: string,
  main: () => Promise<number | void> | number | void,
  options: RunMainOptions = {},
): void {
  const { exitCodeOf, prefix = true } = options;
  Promise.resolve()
    .then(main)
    .then(
      (code) => process.exit(code ?? 0),
      (err: unknown) => {
        const code = exitCodeOf?.(err);
        const text = failureText(err);
        const prefixed = !prefix || text.startsWith(`${component}:`) ? text : `${component}: ${text}`;
        process.stderr.write(`${prefixed}\n`);
        process.exit(code ?? 1);
      },
    );
}

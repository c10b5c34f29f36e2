/** How every process of the project starts and ends: one place for exit codes and fatal error output. */
import { ExplainedError } from './errors';

/**
 * Runs `main` and exits with its code (default 0). A fatal error prints `component: message` on stderr,
 * with the stack unless it is an {@link ExplainedError}, and exits 1.
 */
export function runMain(component: string, main: () => Promise<number | void> | number | void): void {
  Promise.resolve()
    .then(main)
    .then(
      (code) => process.exit(code ?? 0),
      (err: unknown) => {
        const text =
          err instanceof ExplainedError
            ? err.message
            : err instanceof Error
              ? (err.stack ?? err.message)
              : String(err);
        process.stderr.write(`${text.startsWith(`${component}:`) ? text : `${component}: ${text}`}
`);
        process.exit(1);
      },
    );
}

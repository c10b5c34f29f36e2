/**
 * The processes' logger: one JSON object per line on stderr (pino), such as
 * `{"level":"info","time":"2026-12-07T10:00:00.000Z","component":"ingress","msg":"polling","queueUrl":"…"}`,
 * which CloudWatch Logs Insights reads as fields. Text that came from outside (a message body, an object key)
 * can neither forge a line nor drive the terminal of whoever reads it: JSON escapes the C0 controls, and every
 * other unprintable character is written as a `\uXXXX` escape too, so the line parses back to the same text.
 * The Temporal SDK's own logs, with each workflow's and activity's IDs, go through the same logger
 * ({@link temporalLogger}); `npm run dev` prints the lines pretty (scripts/pretty-log.ts).
 */
import { writeSync } from 'node:fs';
import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import pino from 'pino';
import { printable } from './text';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Where the lines go: written synchronously, so that the last line before a crash or an exit is not lost. */
export interface LogDestination {
  write(line: string): void;
}

/** Standard error, one whole line per write. */
const STDERR: LogDestination = { write: (line) => void writeSync(2, line) };

/** An error as its name and message (a stack is for fatal errors: common/run-main.ts). */
function plain(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? `${v.name}: ${v.message}` : v]),
  );
}

function wrap(logger: pino.Logger): Logger {
  const at = (level: LogLevel) => (message: string, fields?: Record<string, unknown>) =>
    fields ? logger[level](plain(fields), message) : logger[level](message);
  return {
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
}

/** The logger of `component`, writing lines at `level` and above to `destination` (standard error). */
export function createLogger(
  component: string,
  level: LogLevel = 'info',
  destination: LogDestination = STDERR,
): Logger {
  // A JSON line holds no raw newline: the one pino ends it with is the only one.
  const escaped = { write: (line: string) => destination.write(`${printable(line.trimEnd())}\n`) };
  return wrap(
    pino(
      {
        level,
        base: { component },
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
      },
      escaped,
    ),
  );
}

const FROM_TEMPORAL: Record<TemporalLogLevel, LogLevel> = {
  TRACE: 'debug',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * The Temporal SDK's logger over `log`, for `Runtime.install`: the worker's, its workflows' and its activities'
 * lines, with the metadata the SDK gives them (`workflowId`, `runId`, `activityType`, `taskQueue`, …) as fields.
 */
export function temporalLogger(log: Logger): TemporalLogger {
  const write = (level: TemporalLogLevel, message: string, meta?: LogMetadata) =>
    log[FROM_TEMPORAL[level]](message, meta);
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

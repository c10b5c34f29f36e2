/**
 * A small structured logger: one line per event, `time level [component] message {fields}` on stderr. Text
 * that came from outside (a message body, an object key) is logged with its control characters escaped, so
 * that it can neither forge log lines nor drive the terminal of whoever reads them.
 */
import { printable } from './text';

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40 } as const;
export type LogLevel = keyof typeof LEVELS;

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

function describe(value: unknown): unknown {
  return value instanceof Error ? `${value.name}: ${value.message}` : value;
}

export function createLogger(component: string, level: LogLevel = 'info'): Logger {
  const write = (at: LogLevel, message: string, fields?: Record<string, unknown>) => {
    if (LEVELS[at] < LEVELS[level]) return;
    const extra = fields
      ? ' ' + JSON.stringify(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, describe(v)])))
      : '';
    process.stderr.write(
      `${new Date().toISOString()} ${at.toUpperCase()} [${component}] ${printable(message + extra)}\n`,
    );
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

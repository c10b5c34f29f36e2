/**
 * The local stack's lines for a person: a process's JSON log line (common/log.ts) as pino-pretty prints it,
 * after the `name | ` prefix the launcher gives it (scripts/stack.ts); any other line as it is. Text from outside
 * stays escaped, as in the JSON line.
 */
import { prettyFactory } from 'pino-pretty';
import { printable } from '../common/text';

/** `value` with every string in it printable: the line's JSON escapes are undone by parsing it. */
function printableStrings(value: unknown): unknown {
  if (typeof value === 'string') return printable(value);
  if (Array.isArray(value)) return value.map(printableStrings);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, printableStrings(v)]));
  }
  return value;
}

/** `line` pretty, in colour when `colorize`. */
export function prettyLogLine(colorize: boolean): (line: string) => string {
  const pretty = prettyFactory({
    colorize,
    translateTime: 'SYS:HH:MM:ss.l',
    ignore: 'component',
    singleLine: true,
    errorLikeObjectKeys: [],
  });
  return (line) => {
    const match = /^([\w-]+) \| (\{.*\})$/.exec(line);
    if (!match) return line;
    try {
      return `${match[1]} | ${pretty(printableStrings(JSON.parse(match[2]!))).trimEnd()}`;
    } catch {
      return line;
    }
  };
}

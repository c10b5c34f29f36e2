/** Text that came from outside (message bodies, object keys), made safe to show. */

/**
 * Characters that are not text to a reader: C0 and C1 controls and DEL, the line and paragraph separators,
 * the marks that reorder text (bidirectional overrides, isolates), U+FFFE and U+FFFF, and lone surrogates.
 */
const UNPRINTABLE =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every unprintable character written as an escape (`\n`, `\u001b`, …), so that it cannot break
 * a log line, move a terminal's cursor, reorder what a reader sees, or be refused by SQS (which takes only XML
 * characters in message attributes).
 */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => NAMED[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

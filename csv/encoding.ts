/**
 * Every job reads UTF-8 (with or without a BOM). A UTF-16 or UTF-32 file is refused before any job sees it,
 * the same way for every job: as invalid input (exit code 65) whose message names the encoding and how to
 * convert the file.
 *
 * Refused rather than transcoded: the CSV jobs keep each record's bytes as found and chunk a file by byte
 * offsets of its records, so a transcoded file would no longer be the file the offsets, the outputs and the
 * verification speak of. Left alone, such a file went through as bytes: a UTF-16 CSV came out in two
 * encodings at once, with a phantom row, and passed every check.
 */
import { InvalidInputError } from '../contract/failures';

/** Bytes looked at for a NUL pattern: enough for a header line, little to hold back. */
const SNIFF_BYTES = 512;
/** Code units needed before a NUL pattern counts: a few bytes prove nothing. */
const MIN_UNITS = 4;

/** A wide encoding and what gave it away. */
export interface WideEncoding {
  encoding: 'UTF-16LE' | 'UTF-16BE' | 'UTF-32LE' | 'UTF-32BE';
  evidence: string;
}

const BOMS: readonly { bytes: readonly number[]; encoding: WideEncoding['encoding'] }[] = [
  // UTF-32LE's BOM starts with UTF-16LE's: test it first.
  { bytes: [0xff, 0xfe, 0x00, 0x00], encoding: 'UTF-32LE' },
  { bytes: [0x00, 0x00, 0xfe, 0xff], encoding: 'UTF-32BE' },
  { bytes: [0xff, 0xfe], encoding: 'UTF-16LE' },
  { bytes: [0xfe, 0xff], encoding: 'UTF-16BE' },
];

/** The share of the bytes at `offset` modulo `step` in `head` that are NUL. */
function nulShare(head: Buffer, step: number, offset: number): number {
  let nul = 0;
  let all = 0;
  for (let i = offset; i < head.length; i += step, all++) if (head[i] === 0) nul++;
  return all === 0 ? 0 : nul / all;
}

/**
 * Detects UTF-16 and UTF-32 from the first bytes of a file: a byte order mark, or the NUL bytes that text
 * mostly below U+0100 (digits, commas, Latin letters) leaves in each code unit. UTF-8 text has no NUL byte.
 * @param head the file's first bytes (up to 512 are looked at).
 */
export function detectWideEncoding(head: Buffer): WideEncoding | undefined {
  for (const { bytes, encoding } of BOMS) {
    if (head.length >= bytes.length && bytes.every((b, i) => head[i] === b)) {
      return { encoding, evidence: `a ${encoding} byte order mark at byte 0` };
    }
  }
  const sample = head.subarray(0, SNIFF_BYTES);
  // A code point above U+FFFF has a non-zero third byte, so only the fourth byte of every unit must be NUL.
  if (sample.length >= 4 * MIN_UNITS) {
    const units = sample.subarray(0, sample.length - (sample.length % 4));
    if (nulShare(units, 4, 3) === 1 && nulShare(units, 4, 2) >= 0.5 && nulShare(units, 4, 0) < 0.5) {
      return { encoding: 'UTF-32LE', evidence: 'NUL bytes in the last three bytes of every 4-byte unit' };
    }
    if (nulShare(units, 4, 0) === 1 && nulShare(units, 4, 1) >= 0.5 && nulShare(units, 4, 3) < 0.5) {
      return { encoding: 'UTF-32BE', evidence: 'NUL bytes in the first three bytes of every 4-byte unit' };
    }
  }
  if (sample.length >= 2 * MIN_UNITS) {
    const units = sample.subarray(0, sample.length - (sample.length % 2));
    if (nulShare(units, 2, 1) >= 0.4 && nulShare(units, 2, 0) < 0.05) {
      return { encoding: 'UTF-16LE', evidence: 'NUL bytes at odd offsets from byte 1' };
    }
    if (nulShare(units, 2, 0) >= 0.4 && nulShare(units, 2, 1) < 0.05) {
      return { encoding: 'UTF-16BE', evidence: 'NUL bytes at even offsets from byte 0' };
    }
  }
  return undefined;
}

/** The error for a wide encoding: what the file is, and the command that converts it. */
export function wideEncodingError(name: string, found: WideEncoding): InvalidInputError {
  return new InvalidInputError(
    `${name} is ${found.encoding} text (${found.evidence}), not UTF-8: every job reads UTF-8 only. ` +
      `Convert it and upload it again, e.g. iconv -f ${found.encoding} -t UTF-8 FILE > FILE-utf8.`,
  );
}

/**
 * Passes the chunks of a file's start through once its first bytes are known not to be UTF-16 or UTF-32.
 * Holds back at most 512 bytes.
 * @param name path or URI of the input, for the message.
 * @throws InvalidInputError naming the encoding and the conversion.
 */
export async function* refuseWideEncodings(
  source: AsyncIterable<Buffer>,
  name: string,
): AsyncGenerator<Buffer> {
  const held: Buffer[] = [];
  let heldBytes = 0;
  let checked = false;
  const check = () => {
    checked = true;
    const found = detectWideEncoding(Buffer.concat(held, heldBytes));
    if (found) throw wideEncodingError(name, found);
  };
  for await (const piece of source) {
    if (checked) {
      yield piece;
      continue;
    }
    held.push(piece);
    heldBytes += piece.length;
    if (heldBytes < SNIFF_BYTES) continue;
    check();
    yield* held;
    held.length = 0;
  }
  if (!checked) {
    check();
    yield* held;
  }
}

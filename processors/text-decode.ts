/**
 * The text-to-pdf input decoder: UTF-8 bytes in, text out, piece by piece, and a refusal of input that is
 * not text at all. Binary data would otherwise become hundreds of pages of replacement characters.
 *
 * Two rules make input invalid (InvalidInputError, exit code 65), each naming the byte offset:
 * - a NUL byte: no text file has one, while nearly all binary formats do (and UTF-16 text, which the
 *   processor has converted before this job sees it);
 * - more than a quarter of a 1 KiB block being invalid UTF-8 sequences (counted as the WHATWG decoder counts
 *   its U+FFFD replacements). Random bytes give about 0.4 invalid sequences per byte (each byte from 0x80 up
 *   starts or is one, and few of them happen to form a valid sequence): 426 per KiB on average, with a
 *   standard deviation of 15, and 369 in the worst of 4,800 blocks measured, against a limit of 256.
 *   Latin-1 or Windows-1252 text has one invalid sequence per accented letter: a few per hundred bytes in
 *   French or German prose, 20% in a test text of nothing but accented words. Such text is printed with U+FFFD for those bytes, and
 *   the count of replaced sequences is reported. A last block shorter than 1 KiB is judged on its own size,
 *   but needs more than 16 invalid sequences to fail, so that a short Latin-1 line ("Grüße") still prints.
 *
 * The blocks are judged as the bytes arrive, so garbage fails within its first KiB, not at the end.
 */
import { isUtf8 } from 'node:buffer';
import { InvalidInputError } from '../contract/failures';

/**
 * Input buffers are decoded in pieces of at most this many bytes, so that a source that delivers one huge
 * buffer still lets the job apply backpressure between pieces.
 */
const PIECE_BYTES = 64 * 1024;
/** The invalid-sequence share is judged per aligned block of this many bytes. */
const BLOCK_BYTES = 1024;
/** More invalid sequences than this in one full block make the input binary: a quarter of its bytes. */
const MAX_INVALID_PER_BLOCK = BLOCK_BYTES / 4;
/** A shorter last block fails only with more invalid sequences than this, and than its share of the limit. */
const MIN_INVALID_TO_FAIL = 16;
const BOM = 0xfeff;
const EMPTY = Buffer.alloc(0);

/** Decodes one input; {@link invalidSequences} tells afterwards how many sequences were replaced. */
export class Utf8Decoder {
  /** Invalid sequences replaced by U+FFFD so far. */
  invalidSequences = 0;
  /** Offset in the input of the first byte not yet received. */
  private offset = 0;
  /** The start of a sequence cut by the end of the last piece, decoded with the next one. */
  private carry: Buffer = EMPTY;
  /** Whether text has come out yet: a BOM is dropped only at the start. */
  private started = false;
  /** The block where the last invalid sequence was, and its invalid sequences so far. */
  private block = -1;
  private blockInvalid = 0;
  private blockFirstInvalid = 0;

  /** @param source the input's path or URI, for messages. */
  constructor(private readonly source: string) {}

  /** The text of `input`, in pieces; throws InvalidInputError as soon as the input shows it is no text. */
  async *decode(input: AsyncIterable<Buffer>): AsyncGenerator<string> {
    for await (const chunk of input) {
      for (let at = 0; at < chunk.length; at += PIECE_BYTES) {
        const text = this.piece(chunk.subarray(at, at + PIECE_BYTES));
        if (text !== '') yield text;
      }
    }
    const text = this.finish();
    if (text !== '') yield text;
  }

  private piece(bytes: Buffer): string {
    const nul = bytes.indexOf(0);
    if (nul >= 0) {
      throw new InvalidInputError(
        `byte ${this.offset + nul} of ${this.source} is a NUL byte: this is binary data, not text. ` +
          'text-to-pdf reads UTF-8 text; upload a text file',
      );
    }
    const data = this.carry.length === 0 ? bytes : Buffer.concat([this.carry, bytes]);
    const start = this.offset - this.carry.length;
    this.offset += bytes.length;
    const end = completeLength(data);
    this.carry = Buffer.from(data.subarray(end));
    return this.text(data.subarray(0, end), start);
  }

  private finish(): string {
    // What is left is an incomplete sequence: replaced like any other invalid one.
    const text = this.text(this.carry, this.offset - this.carry.length);
    this.carry = EMPTY;
    const lastBlock = Math.floor((this.offset - 1) / BLOCK_BYTES);
    const size = this.offset - lastBlock * BLOCK_BYTES;
    const limit = Math.max(MIN_INVALID_TO_FAIL, (size * MAX_INVALID_PER_BLOCK) / BLOCK_BYTES);
    if (this.block === lastBlock && this.blockInvalid > limit) {
      throw this.notUtf8(this.offset - 1);
    }
    return text;
  }

  /** The text of `data`, which starts at offset `start` and ends where a sequence does (or the input). */
  private text(data: Buffer, start: number): string {
    let text = isUtf8(data) ? data.toString('utf8') : this.replaceInvalid(data, start);
    if (!this.started && text !== '') {
      this.started = true;
      if (text.charCodeAt(0) === BOM) text = text.slice(1);
    }
    return text;
  }

  /** Decodes `data` as the WHATWG decoder does: one U+FFFD per maximal invalid subsequence. */
  private replaceInvalid(data: Buffer, start: number): string {
    const parts: string[] = [];
    let valid = 0;
    let i = 0;
    while (i < data.length) {
      if (data[i]! < 0x80) {
        i++;
        continue;
      }
      const length = sequenceAt(data, i);
      if (length > 0) {
        i += length;
        continue;
      }
      if (valid < i) parts.push(data.toString('utf8', valid, i));
      parts.push('\ufffd');
      this.countInvalid(start + i);
      i -= length;
      valid = i;
    }
    if (valid < data.length) parts.push(data.toString('utf8', valid));
    return parts.join('');
  }

  private countInvalid(offset: number): void {
    this.invalidSequences++;
    const block = Math.floor(offset / BLOCK_BYTES);
    if (block !== this.block) {
      this.block = block;
      this.blockInvalid = 0;
      this.blockFirstInvalid = offset;
    }
    if (++this.blockInvalid > MAX_INVALID_PER_BLOCK) throw this.notUtf8(offset);
  }

  /** The error for the current block, judged up to byte `last`. */
  private notUtf8(last: number): InvalidInputError {
    const from = this.block * BLOCK_BYTES;
    return new InvalidInputError(
      `bytes ${from}-${last} of ${this.source} hold ${this.blockInvalid} invalid UTF-8 sequences, ` +
        `the first at byte ${this.blockFirstInvalid}: this is binary data or text in another encoding, not UTF-8. ` +
        'text-to-pdf reads UTF-8 text; upload a UTF-8 text file',
    );
  }
}

/**
 * The length of the valid UTF-8 sequence that starts at `data[i]` (a byte from 0x80 up), or minus the length
 * of the maximal subpart of one to replace: the lead byte and the continuation bytes that fit it, which may
 * be cut by the end of `data`.
 */
function sequenceAt(data: Buffer, i: number): number {
  const lead = data[i]!;
  let continuations: number;
  let lower = 0x80;
  let upper = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    continuations = 1;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    continuations = 2;
    if (lead === 0xe0) lower = 0xa0; // shorter forms exist
    if (lead === 0xed) upper = 0x9f; // surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    continuations = 3;
    if (lead === 0xf0) lower = 0x90; // shorter forms exist
    if (lead === 0xf4) upper = 0x8f; // beyond U+10FFFF
  } else {
    return -1;
  }
  for (let k = 1; k <= continuations; k++) {
    const byte = data[i + k];
    if (byte === undefined || byte < lower || byte > upper) return -k;
    lower = 0x80;
    upper = 0xbf;
  }
  return continuations + 1;
}

/** Where a sequence that the end of `data` cuts starts: `data.length` when none is cut. */
function completeLength(data: Buffer): number {
  const n = data.length;
  for (let back = 1; back <= Math.min(3, n); back++) {
    const byte = data[n - back]!;
    if ((byte & 0xc0) === 0x80) continue;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return length > back ? n - back : n;
  }
  return n;
}

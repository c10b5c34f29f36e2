/**
 * The byte streams of the CSV jobs: their input as Buffers, a leading UTF-8 BOM set apart, and a buffer
 * between a job and its output.
 */
import { PassThrough } from 'node:stream';

/** The UTF-8 byte order mark, passed through by the jobs but never part of a record. */
export const UTF8_BOM = Buffer.from([0xef, 0xbb, 0xbf]);

/** Accepts the chunk types a byte stream may deliver. */
export function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  if (typeof chunk === 'string') return Buffer.from(chunk, 'utf8');
  throw new TypeError(`expected Buffer chunks, got ${typeof chunk}`);
}

/** Yields the chunks of `source` as Buffers, unchanged: the input of a chunk, which never starts with a BOM. */
export async function* asBuffers(source: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
  for await (const chunk of source) yield toBuffer(chunk);
}

/**
 * Yields the chunks of `source` without a leading UTF-8 BOM, calling `onBom` first if there is one. The
 * first bytes are held back until it is known whether they are a BOM, even if it arrives a byte at a time.
 */
export async function* stripBom(source: AsyncIterable<unknown>, onBom: () => void): AsyncGenerator<Buffer> {
  let head: Buffer | undefined = Buffer.alloc(0);
  for await (const raw of source) {
    let chunk = toBuffer(raw);
    if (head !== undefined) {
      chunk = head.length > 0 ? Buffer.concat([head, chunk]) : chunk;
      if (chunk.length < UTF8_BOM.length && UTF8_BOM.subarray(0, chunk.length).equals(chunk)) {
        head = chunk;
        continue;
      }
      head = undefined;
      if (chunk.subarray(0, UTF8_BOM.length).equals(UTF8_BOM)) {
        onBom();
        chunk = chunk.subarray(UTF8_BOM.length);
      }
    }
    if (chunk.length > 0) yield chunk;
  }
  if (head !== undefined && head.length > 0) yield head;
}

/** How far a job's output may run ahead of the destination (see {@link writeAhead}). */
const WRITE_AHEAD_BYTES = 8 * 1024 * 1024;

/**
 * A buffer to put between a job and its output in a pipeline. Without it the job waits for each write to
 * reach the destination before it reads and scans the next chunk (a file stream's buffer is only 16 KiB);
 * with it, scanning, reading and writing overlap, for a few MiB of memory.
 */
export function writeAhead(): PassThrough {
  return new PassThrough({ highWaterMark: WRITE_AHEAD_BYTES / 2 });
}

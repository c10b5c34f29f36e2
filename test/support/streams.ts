/** Streams for the processor jobs' tests: an input cut into pieces, and a sink that keeps what it gets. */
import { Readable, Writable } from 'node:stream';

/**
 * `data` as a stream of pieces, as S3 or a disk would bring it: of `size` bytes each, or of the sizes
 * `size()` returns one after the other (at least 1).
 */
export function pieces(data: Buffer | string, size: number | (() => number)): Readable {
  const bytes = Buffer.from(data);
  const next = typeof size === 'number' ? () => size : size;
  return Readable.from(
    (function* () {
      for (let at = 0; at < bytes.length;) {
        const n = Math.max(1, next());
        yield bytes.subarray(at, at + n);
        at += n;
      }
    })(),
  );
}

/** A sink with a tiny buffer and asynchronous writes, so that producers really meet backpressure. */
export function collector(): { stream: Writable; bytes: () => Buffer; text: () => string } {
  const parts: Buffer[] = [];
  const stream = new Writable({
    highWaterMark: 64,
    write(chunk: Buffer, _encoding, callback) {
      parts.push(chunk);
      setImmediate(callback);
    },
  });
  const bytes = () => Buffer.concat(parts);
  return { stream, bytes, text: () => bytes().toString('utf8') };
}

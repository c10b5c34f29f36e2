/**
 * The chunk settings an input object's metadata may set (`chunk-size`, `max-concurrency`,
 * `tolerated-failure-count`, `tolerated-failure-percent`), read one way: by the workflow when it inspects a file,
 * and by the console's upload form before the file is sent, so that a value the workflow would refuse never
 * reaches the bucket.
 */
import { INPUT_METADATA } from './layout';

/** The settings the metadata names; the ones it leaves out are absent. */
export interface ChunkMetadata {
  chunkSize?: number;
  maxConcurrent?: number;
  toleratedFailureCount?: number;
  toleratedFailurePercent?: number;
}

/** A metadata value that is not of its key's form: the key (without `x-amz-meta-`), the value and the form. */
export class InvalidMetadataError extends Error {
  override name = 'InvalidMetadataError';
  constructor(
    readonly key: string,
    readonly value: string,
    readonly expected: string,
  ) {
    super(`x-amz-meta-${key} is "${value}", expected ${expected}`);
  }
}

const SIZE = /^(\d+)\s*(b|kib|mib|gib|kb|mb|gb)?$/i;
const UNITS: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
};

/**
 * The chunk settings of `metadata`.
 * @throws InvalidMetadataError for the first value not of its form.
 */
export function parseChunkMetadata(metadata: Record<string, string | undefined>): ChunkMetadata {
  const integer = (name: string, min: number, max: number): number | undefined => {
    const value = metadata[name];
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value.trim()) || n < min || n > max)
      throw new InvalidMetadataError(name, value, `an integer from ${min} to ${max}`);
    return n;
  };
  const parsed: ChunkMetadata = {};
  const size = metadata[INPUT_METADATA.chunkSize];
  if (size !== undefined) {
    const m = SIZE.exec(size.trim());
    const bytes = m ? Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]! : NaN;
    if (!(bytes >= 1024))
      throw new InvalidMetadataError(
        INPUT_METADATA.chunkSize,
        size,
        'a size of at least 1 KiB, e.g. 8MiB or 8388608',
      );
    parsed.chunkSize = bytes;
  }
  const percent = metadata[INPUT_METADATA.toleratedFailurePercent];
  if (percent !== undefined) {
    const n = Number(percent);
    if (percent.trim() === '' || !(n >= 0 && n <= 100))
      throw new InvalidMetadataError(
        INPUT_METADATA.toleratedFailurePercent,
        percent,
        'a number from 0 to 100',
      );
    parsed.toleratedFailurePercent = n;
  }
  const count = integer(INPUT_METADATA.toleratedFailureCount, 0, 1_000_000);
  if (count !== undefined) parsed.toleratedFailureCount = count;
  const concurrent = integer(INPUT_METADATA.maxConcurrency, 1, 1000);
  if (concurrent !== undefined) parsed.maxConcurrent = concurrent;
  return parsed;
}

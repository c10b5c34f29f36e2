/**
 * The streaming loop the CSV jobs share: the input's chunks, a leading BOM set apart, pushed through a
 * {@link CsvScanner} whose handler builds the output, and that output yielded chunk by chunk, so that the job
 * is one step of a pipeline (before `writeAhead()` and the destination).
 */
import type { OutputBuilder } from '../csv/output-builder';
import type { CsvScanner } from '../csv/scanner';
import { UTF8_BOM, asBuffers, stripBom } from '../csv/streams';

/**
 * The chunks of a job's input as Buffers. At the start of a file (`header` undefined) without a leading
 * UTF-8 BOM, `onBom` being called first if there is one; a chunk after the first (`header`: the file's,
 * `CsvChunkOptions.header`) as is, bytes that look like a BOM being data: only the start of a file can have one.
 */
export function inputChunks(
  source: AsyncIterable<unknown>,
  header: string | undefined,
  onBom: () => void,
): AsyncIterable<Buffer> {
  return header === undefined ? stripBom(source, onBom) : asBuffers(source);
}

/** Options of {@link scanChunks}. */
export interface ScanChunksOptions {
  /** The file's header when the input is a chunk after the first ({@link inputChunks}). */
  header: string | undefined;
  /** Called after each chunk's output was yielded. */
  afterChunk?: () => Promise<void>;
}

/**
 * Pushes the chunks of `source` through `scanner` and yields, after each, what `out` holds (what the
 * scanner's handler appended to it). A leading BOM goes to `out` as is, before the first record; it is not
 * content of that record (a BOM-only file stays one). After the last chunk the scanner is finished, which
 * throws for a file that ends inside a quoted field.
 */
export async function* scanChunks(
  source: AsyncIterable<unknown>,
  scanner: CsvScanner,
  out: OutputBuilder,
  { header, afterChunk }: ScanChunksOptions,
): AsyncGenerator<Buffer> {
  for await (const chunk of inputChunks(source, header, () => out.bytes(UTF8_BOM))) {
    scanner.push(chunk);
    const bytes = out.take();
    if (bytes.length > 0) yield bytes;
    if (afterChunk) await afterChunk();
  }
  scanner.finish();
  const rest = out.take();
  if (rest.length > 0) yield rest;
}

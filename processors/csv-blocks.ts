/**
 * The parallel path of the CSV jobs: the input cut into blocks of whole records (at LFs outside quotes,
 * found by {@link RecordEnds}), each block run by a worker thread (processors/csv-block-worker.ts) on a
 * scanner of its own, and the blocks' outputs yielded in input order, with one block more than threads in
 * flight. A job ({@link BlockJob}) says what a thread does with a block and how its counts add up. What the
 * threads of each job are started with is declared here, with the rest of what the threads are sent, so that
 * the jobs import this module and it imports none of them.
 */
import { extname, join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CsvDelimiter } from '../contract/jobs';
import { InvalidInputError } from '../contract/failures';
import type { OutputBuilder } from '../csv/output-builder';
import { CsvSyntaxError, MAX_FIELD_BYTES, RecordEnds } from '../csv/scanner';
import type { CsvScanner } from '../csv/scanner';
import { UTF8_BOM } from '../csv/streams';
import type { CsvSchema } from '../common/schema';
import { inputChunks } from './csv-stream';

/** What every worker thread of a parallel transform is started with, besides its job. */
export interface TransformWorkerData {
  source: string;
  processedAt: string;
  delimiter: CsvDelimiter;
}

/** What every worker thread of a parallel validate is started with, besides its job. */
export interface ValidateWorkerData {
  source: string;
  schema: CsvSchema;
  delimiter: CsvDelimiter;
}

/** What every worker thread of a parallel run is started with: its job, and that job's settings. */
export type BlockWorkerData =
  ({ job: 'csv-transform' } & TransformWorkerData) | ({ job: 'csv-validate' } & ValidateWorkerData);

/** One block of whole records for a worker thread. */
export interface BlockRequest {
  seq: number;
  /**
   * The records. The bytes of its memory before them (`block.byteOffset`) are room the worker may write its
   * output into ({@link BlockJob.room}), so that it sends the block's own memory back instead of allocating some.
   */
  block: Uint8Array;
  /** The header was in an earlier block, or the input has none (a chunk): every record is data. */
  headerDone: boolean;
  /** The input's last block: it may end without a terminator, or inside a quoted field (an error). */
  final: boolean;
  /** The block's first line: exact for the final block, 1 for the others (their lines are shifted). */
  firstLine: number;
}

/** What every job's thread sends back for a block, besides its own counts. */
export interface BlockOutput {
  output: Uint8Array;
  /** Lines the block spans, which the lines of the blocks after it are shifted by. */
  lines: number;
}

/** Why a block failed: broken CSV on a line of it, other invalid input, or a bug. */
export type BlockError = { line: number; problem: string } | { invalid: string } | { message: string };

export type BlockResult<O extends BlockOutput = BlockOutput> =
  ({ seq: number } & O) | { seq: number; error: BlockError };

/** A block's error as the worker thread sends it. */
export function blockError(err: unknown): BlockError {
  if (err instanceof CsvSyntaxError) return { line: err.line, problem: err.problem };
  if (err instanceof InvalidInputError) return { invalid: err.message };
  return { message: err instanceof Error ? (err.stack ?? err.message) : String(err) };
}

/** What a job adds to {@link parallelBlocks}. */
export interface BlockJob<O extends BlockOutput> {
  settings: BlockWorkerData;
  /** Bytes of room a block of `length` bytes of records is given before them. */
  room(length: number): number;
  /**
   * Takes the result of the next block in input order (its counts) and returns its output. `lineShift`
   * makes the block's lines the file's: 0 for the final block, whose first line was exact.
   */
  accept(result: O, lineShift: number): Buffer;
  /** Called after each output was yielded: writes what the job keeps besides it (the rejects). */
  afterBlock?: () => Promise<void>;
  /**
   * The rest of the input in this thread, from file line `firstLine`, once a record outgrew the blocks;
   * `headerDone` as for a block. `end` is called after the scanner has finished.
   */
  rest(firstLine: number, headerDone: boolean): { scanner: CsvScanner; out: OutputBuilder; end(): void };
}

/** Options of {@link parallelBlocks}. */
export interface ParallelOptions {
  threads: number;
  /** Name of the input, for messages. */
  source: string;
  delimiter: CsvDelimiter;
  /** The file's header, when the input is a chunk after the first ({@link inputChunks}). */
  header: string | undefined;
  /** File line of the input's first byte. @default 1 */
  firstLine: number | undefined;
}

/** Blocks handed to the worker threads are at least this large: the hand-over costs about as much as 64 KiB of work. */
const BLOCK_BYTES = 1024 * 1024;
/**
 * Input held without a record end (a record longer than this, or a field never closed): the rest of the input
 * is run in this thread instead, streaming, so that memory stays bounded and the scanner reports a field over
 * MAX_FIELD_BYTES with its line.
 */
const MAX_HELD_BYTES = BLOCK_BYTES + 2 * MAX_FIELD_BYTES;
const LF_BYTE = 0x0a;

/**
 * `buffers` copied into memory of their own (never Node's shared pool), after `room` free bytes: it can be
 * moved to a worker thread, which may write into that room.
 */
function own(buffers: readonly Buffer[], length: number, room: number): Buffer {
  const buf = Buffer.allocUnsafeSlow(room + length);
  let at = room;
  for (const b of buffers) at += b.copy(buf, at);
  return buf.subarray(room);
}

/** Whether `buf[0, end)` has a byte other than CR and LF (then it holds a record, the header of a file). */
function hasRecord(buf: Buffer, end: number): boolean {
  for (let i = 0; i < end; i++) if (buf[i] !== LF_BYTE && buf[i] !== 0x0d) return true;
  return false;
}

/**
 * Runs `job` on the blocks of `source` in `opts.threads` worker threads and yields their outputs in order
 * (a leading BOM before the first, as scanChunks does). A record longer than MAX_HELD_BYTES ends the parallel
 * part: the rest is run in this thread ({@link BlockJob.rest}). A block's error is thrown with the file's line.
 */
export async function* parallelBlocks<O extends BlockOutput>(
  source: AsyncIterable<unknown>,
  job: BlockJob<O>,
  opts: ParallelOptions,
): AsyncGenerator<Buffer> {
  const { threads, source: name, delimiter } = opts;
  const workerFile = join(__dirname, `csv-block-worker${extname(__filename)}`);
  const waiting = new Map<number, { resolve: (r: BlockResult<O>) => void; reject: (e: Error) => void }>();
  const fail = (err: Error) => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  const workers = Array.from({ length: threads }, () => {
    // Compiled, the worker is a .js file; from the sources (tsx: tests, `npm run process`) it is loaded the same way.
    const worker =
      extname(workerFile) === '.ts'
        ? new Worker(`require('tsx/cjs'); require(${JSON.stringify(workerFile)});`, {
            eval: true,
            workerData: job.settings,
          })
        : new Worker(workerFile, { workerData: job.settings });
    worker.on('message', (result: BlockResult<O>) => {
      waiting.get(result.seq)?.resolve(result);
      waiting.delete(result.seq);
    });
    worker.on('error', fail);
    return worker;
  });
  const baseLine = opts.firstLine ?? 1;
  let linesBefore = 0;
  let headerDone = opts.header !== undefined;
  let bom = false;
  let seq = 0;
  let finalSeq = -1;
  const inFlight: Promise<BlockResult<O>>[] = [];
  const send = (block: Buffer, final: boolean): void => {
    if (final) finalSeq = seq;
    const request: BlockRequest = {
      seq: seq++,
      block,
      headerDone,
      final,
      firstLine: final ? baseLine + linesBefore : 1,
    };
    headerDone = true;
    inFlight.push(
      new Promise<BlockResult<O>>((resolve, reject) => {
        waiting.set(request.seq, { resolve, reject });
        workers[request.seq % threads]!.postMessage(request, [block.buffer as ArrayBuffer]);
      }),
    );
  };
  /** The output of the oldest block in flight; its error, with the file's line, if it had one. */
  const receive = async (): Promise<Buffer> => {
    const result = await inFlight.shift()!;
    const lineShift = result.seq === finalSeq ? 0 : baseLine + linesBefore - 1;
    if ('error' in result) {
      const { error } = result;
      if ('message' in error) throw new Error(error.message);
      if ('invalid' in error) throw new InvalidInputError(error.invalid);
      throw new CsvSyntaxError(name, error.line + lineShift, error.problem);
    }
    const output = job.accept(result, lineShift);
    linesBefore += result.lines;
    return withBom(output);
  };
  const withBom = (output: Buffer) => (bom ? ((bom = false), Buffer.concat([UTF8_BOM, output])) : output);
  /** Yields the outputs of the oldest blocks until at most `keep` are in flight. */
  async function* settle(keep: number): AsyncGenerator<Buffer> {
    while (inFlight.length > keep) {
      const output = await receive();
      if (output.length > 0) yield output;
      await job.afterBlock?.();
    }
  }

  try {
    const chunks = inputChunks(source, opts.header, () => (bom = true));
    const ends = new RecordEnds(delimiter);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    /** Set once a record outgrew MAX_HELD_BYTES: the rest of the input is run here. */
    let here: ReturnType<BlockJob<O>['rest']> | undefined;
    for await (const chunk of chunks) {
      if (here) {
        here.scanner.push(chunk);
        const output = here.out.take();
        if (output.length > 0) yield output;
        await job.afterBlock?.();
        continue;
      }
      // A block ends at the first record end from BLOCK_BYTES on.
      const cut = ends.scan(
        chunk,
        pendingBytes + chunk.length >= BLOCK_BYTES ? Math.max(0, BLOCK_BYTES - pendingBytes) : -1,
      );
      if (cut !== -1) {
        const length = pendingBytes + cut;
        const block = own([...pending, chunk.subarray(0, cut)], length, job.room(length));
        if (headerDone || hasRecord(block, block.length)) {
          pending = cut < chunk.length ? [chunk.subarray(cut)] : [];
          pendingBytes = chunk.length - cut;
          send(block, false);
          yield* settle(threads);
          continue;
        }
      }
      pending.push(chunk);
      pendingBytes += chunk.length;
      if (pendingBytes <= MAX_HELD_BYTES) continue;
      yield* settle(0);
      here = job.rest(baseLine + linesBefore, headerDone);
      for (const piece of pending) here.scanner.push(piece);
      pending = [];
      const output = withBom(here.out.take());
      if (output.length > 0) yield output;
      await job.afterBlock?.();
    }
    if (here) {
      here.scanner.finish();
      here.end();
      const output = here.out.take();
      if (output.length > 0) yield output;
      await job.afterBlock?.();
      return;
    }
    yield* settle(0);
    // The last block, with its exact first line now that every earlier block is counted.
    send(own(pending, pendingBytes, job.room(pendingBytes)), true);
    yield* settle(0);
  } finally {
    // Blocks still in flight are abandoned (an error, or the consumer stopped): nobody awaits them.
    for (const abandoned of inFlight) abandoned.catch(() => {});
    fail(new Error('the parallel run stopped'));
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

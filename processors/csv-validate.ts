/**
 * The `csv-validate` job: keeps the records of a CSV file that match a schema ({@link CsvSchema}) and lists
 * why each other record failed in a rejects file, instead of failing the run on the first bad row.
 *
 * The shared scanner finds the records and a validator (processors/csv-record-validator.ts) checks them:
 * each is split into fields with native `indexOf`, and the checks (processors/csv-rules.ts) read the bytes in
 * place: no string is made for a valid field that is not quoted. Valid records are copied to the output as
 * found, so consecutive valid records leave as one slice of the input chunk. Numeric columns are summed exactly (processors/csv-statistics.ts, with common/decimal.ts:
 * scaled integers, in doubles while they are exact, BigInt beyond).
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import type { CsvChunkOptions } from '../csv/chunk-plan';
import { OutputBuilder } from '../csv/output-builder';
import { writeAhead } from '../csv/streams';
import { InvalidInputError } from '../contract/failures';
import { DEFAULT_CSV_DELIMITER, type CsvDelimiter } from '../contract/jobs';
import { excessRejects } from '../contract/reports';
import {
  Validator,
  addCounts,
  rejectLines,
  type ValidRowSink,
  type ValidateCounts,
  type ValidatedBlock,
} from './csv-record-validator';
import { parallelBlocks, type BlockJob, type BlockOutput, type ValidateWorkerData } from './csv-blocks';
import { scanChunks } from './csv-stream';
import type { CsvSchema } from '../common/schema';

export type { RejectRule } from './csv-rules';
export type { GroupTotal, NumericStats } from './csv-statistics';

/** Header of the rejects file: one line per failed check, several per record if several fields fail. */
export const REJECTS_HEADER = 'row,line,column,rule,value,expected\n';

/** Options of {@link csvValidate}; for a chunk of a file, see {@link CsvChunkOptions}. */
export interface CsvValidateOptions extends CsvChunkOptions {
  schema: CsvSchema;
  /** Name of the input (path or `s3://` URI), used in messages. */
  source: string;
  /** The field separator: the object's, else the schema's ({@link CsvSchema.delimiter}). @default ',' */
  delimiter?: CsvDelimiter | undefined;
  /** Overrides the schema's `maxRejectedPercent`. */
  maxRejectedPercent?: number | undefined;
  /**
   * Fail the run when more than the allowed share of rows is rejected. False for a chunk: the share is only
   * meaningful for the whole file, so whoever runs the chunks applies it to their summed counts.
   * @default true
   */
  applyThreshold?: boolean | undefined;
  /** Where the rejects go, named in the message when too many rows are rejected. */
  rejectsName?: string;
  /**
   * Worker threads to validate with, the main thread cutting the input into blocks of whole records and
   * writing their outputs and rejects in order. 1 (the default) validates in the calling thread.
   */
  threads?: number | undefined;
  /** Also gets each valid record (csv-to-dynamodb loads them), and may still reject it; needs one thread. */
  rows?: ValidRowSink | undefined;
}

/** What one {@link csvValidate} run saw: the counts of all its records. */
export interface CsvValidateResult extends Omit<ValidateCounts, 'headerSeen'> {
  schema: string;
  /** The largest share of rejected rows allowed, in percent: `maxRejectedPercent` or the schema's. */
  maxRejectedPercent: number;
}

/** More records were rejected than the schema (or `MAX_REJECTED_PERCENT`) allows: the file fails whole. */
export class RejectThresholdError extends InvalidInputError {
  override name = 'RejectThresholdError';
}

/** Where a run's rejects wait to be written: lines of blocks, and the validator of this thread. */
interface RejectsWaiting {
  text: string;
  validator: Validator;
}

/**
 * The parallel validate ({@link parallelBlocks}): each block validated by a worker thread (`blockValidator`
 * of processors/csv-record-validator.ts), its counts added to `counts`, its rejects, renumbered as the file's,
 * to `waiting`, written by `flushRejects` once its output is: held to the end, they grew the heap by the
 * rejects of the whole file. A record too long for the blocks, and what follows it, is validated in this thread.
 */
function validateJob(
  settings: ValidateWorkerData,
  rowOffset: number,
  counts: ValidateCounts,
  waiting: RejectsWaiting,
  flushRejects: () => Promise<void>,
): BlockJob<BlockOutput & ValidatedBlock> {
  const { source, schema, delimiter } = settings;
  return {
    settings: { job: 'csv-validate', ...settings },
    room: () => 0,
    accept(result, lineShift) {
      waiting.text += rejectLines(result.rejectAt, result.rejectTexts, rowOffset + counts.rowsIn, lineShift);
      addCounts(counts, result);
      return Buffer.from(result.output.buffer, result.output.byteOffset, result.output.byteLength);
    },
    afterBlock: flushRejects,
    rest(firstLine, headerDone) {
      const out = new OutputBuilder();
      const validator = new Validator(
        schema,
        source,
        out,
        firstLine,
        rowOffset + counts.rowsIn,
        delimiter,
        undefined,
      );
      validator.headerSeen = headerDone;
      waiting.validator = validator;
      return { scanner: validator.scanner, out, end: () => addCounts(counts, validator.counts()) };
    },
  };
}

async function write(stream: Writable, text: string): Promise<void> {
  if (!stream.write(text)) await once(stream, 'drain');
}

/**
 * Streams the records of `input` that match `opts.schema` to `output` (the header first, then each valid
 * record's bytes as found, a leading BOM kept, blank lines dropped) and writes one line per failed check to
 * `rejects` ({@link REJECTS_HEADER}, always written). Resolves once both have finished.
 *
 * With `opts.header` the input is a chunk after the first ({@link CsvChunkOptions}): that header is checked
 * instead, and neither output gets a header (nor a BOM); `opts.firstRow` and `opts.firstLine` make the row and
 * line numbers of rejects and errors the file's. A chunk's run sets `applyThreshold: false`.
 *
 * @throws InvalidInputError if the CSV is broken (see {@link CsvScanner}), has no header or a header other
 *   than the schema's columns: `output` and `rejects` are then destroyed, and may hold a prefix.
 * @throws RejectThresholdError, after reading everything, if more than the allowed percentage of records
 *   was rejected: `output` is destroyed (nothing valid is kept), `rejects` is complete and has finished.
 */
export async function csvValidate(
  input: AsyncIterable<Buffer> | NodeJS.ReadableStream,
  output: Writable,
  rejects: Writable,
  opts: CsvValidateOptions,
): Promise<CsvValidateResult> {
  const { schema, source, header } = opts;
  const limit = opts.maxRejectedPercent ?? schema.maxRejectedPercent;
  const delimiter = opts.delimiter ?? DEFAULT_CSV_DELIMITER;
  const rowOffset = (opts.firstRow ?? 1) - 1;
  const threads = opts.threads ?? 1;
  // The sink takes the rows in file order, as they are scanned: in one thread.
  if (threads > 1 && opts.rows) throw new Error('csvValidate: a row sink needs a run on one thread');
  const out = new OutputBuilder();
  const validator = new Validator(schema, source, out, opts.firstLine ?? 1, rowOffset, delimiter, opts.rows);
  const counts: ValidateCounts = {
    headerSeen: false,
    rowsIn: 0,
    rowsOut: 0,
    rowsRejected: 0,
    bareQuoteFields: 0,
    rejectsByRule: {},
    columns: {},
    totals: {},
  };
  const waiting: RejectsWaiting = { text: '', validator };

  const flushRejects = async () => {
    await opts.rows?.drain();
    const text = waiting.text + waiting.validator.takeRejects(0, 0);
    waiting.text = '';
    if (text.length > 0) await write(rejects, text);
  };

  async function* validate(chunks: AsyncIterable<unknown>): AsyncGenerator<Buffer> {
    if (header === undefined) {
      await write(rejects, REJECTS_HEADER);
    } else {
      // A chunk after the first: its header was the file's, checked here, and neither output repeats it.
      const bytes = Buffer.from(header, 'utf8');
      validator.checkHeader(bytes, 0, bytes.length, true);
      validator.headerSeen = counts.headerSeen = true;
    }
    if (threads > 1) {
      const job = validateJob({ source, schema, delimiter }, rowOffset, counts, waiting, flushRejects);
      yield* parallelBlocks(chunks, job, { threads, source, delimiter, header, firstLine: opts.firstLine });
    } else {
      yield* scanChunks(chunks, validator.scanner, out, { header, afterChunk: flushRejects });
      addCounts(counts, validator.counts());
    }
    if (!counts.headerSeen) {
      throw new InvalidInputError(
        `${source}: no header: the file is empty or has only blank lines; expected a header with the columns of schema ${JSON.stringify(schema.name)}: ${schema.columns.map((c) => c.name).join(', ')}.`,
      );
    }
    await flushRejects();
    rejects.end();
    await finished(rejects, { readable: false });
    // Failing here, before the generator returns, makes the pipeline destroy the output instead of ending it.
    const excess = opts.applyThreshold === false ? undefined : excessRejects(counts, limit);
    if (excess) {
      throw new RejectThresholdError(
        `${source}: ${excess.share} (schema ${JSON.stringify(schema.name)}; MAX_REJECTED_PERCENT overrides it). ` +
          `Failed checks: ${excess.rules}. No output was written; the rejects file${opts.rejectsName ? ` ${opts.rejectsName}` : ''} lists every failure.`,
      );
    }
  }

  try {
    await pipeline(input, validate, writeAhead(), output);
  } catch (err) {
    if (!(err instanceof RejectThresholdError)) rejects.destroy();
    throw err;
  }
  const { rowsIn, rowsOut, rowsRejected, bareQuoteFields, rejectsByRule, columns, totals } = counts;
  return {
    schema: schema.name,
    maxRejectedPercent: limit,
    rowsIn,
    rowsOut,
    rowsRejected,
    bareQuoteFields,
    rejectsByRule,
    columns,
    totals,
  };
}

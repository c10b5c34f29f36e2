/**
 * The processor's jobs: how each is run on an input stream and an output stream. Each job's module is loaded
 * only when it runs: pdfkit alone adds about 0.1 s to every start-up.
 */
import type { ProcessorStats } from '../contract/reports';
import { availableParallelism } from 'node:os';
import type { Writable } from 'node:stream';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { CsvDelimiter, JobName } from '../contract/jobs';
import { describeLocation, type Location, type OutputHandle } from './object-io';
import type { ValidRowSink } from './csv-record-validator';
import type { ChunkRun, ValidateSpec } from './run-spec';

/** What a job needs besides its streams. */
export interface JobContext {
  processedAt: string;
  /** Bytes the job will read, when known. */
  size: number | undefined;
  /** Path or URI of the input, for messages. */
  source: string;
  /** Object key or path of the input. */
  name: string;
  validate: ValidateSpec | undefined;
  chunk: ChunkRun | undefined;
  /** CSV jobs: the field separator. */
  delimiter: CsvDelimiter | undefined;
  /** Opens a further CSV output (with the main output's metadata), discarded if the process is stopped. */
  openCsvOutput: (location: Location) => Promise<OutputHandle>;
  /** csv-to-dynamodb: the client and the table its rows go to. */
  dynamodb: { client: DynamoDBClient; table: string } | undefined;
}

/** Inputs from this size on are run by worker threads, one per core (two at most): smaller ones start faster alone. */
const PARALLEL_FROM_BYTES = 16 * 1024 * 1024;

/** Worker threads of a CSV job (csv-transform, csv-validate) on `size` bytes. */
export function csvThreads(size: number | undefined): number {
  return size !== undefined && size >= PARALLEL_FROM_BYTES ? Math.min(2, availableParallelism()) : 1;
}

/** Runs a job: reads `input`, writes `output` (ending it), and returns the job's statistics. */
/** What a job reports of itself; the run adds the job, the output, the bytes read and the range. */
export type JobStats = Omit<ProcessorStats, 'job' | 'output' | 'bytesIn' | 'range'>;

export type JobRunner = (
  input: AsyncIterable<Buffer>,
  output: Writable,
  ctx: JobContext,
) => Promise<JobStats>;

export const RUNNERS: Record<JobName, JobRunner> = {
  'csv-transform': async (input, output, { processedAt, source, chunk, size, delimiter }) =>
    (await import('./csv-transform.js')).csvTransform(input, output, {
      processedAt,
      source,
      delimiter,
      threads: csvThreads(size),
      header: chunk?.header,
      firstRow: chunk?.firstRow,
      firstLine: chunk?.firstLine,
    }),
  'text-to-pdf': async (input, output, { name, source }) =>
    (await import('./text-to-pdf.js')).textToPdf(input, output, { title: name, source }),
  'csv-validate': (input, output, ctx) => validateRows(input, output, ctx),
  'csv-to-dynamodb': async (input, output, ctx) => {
    const { dynamodb, validate } = ctx;
    if (!dynamodb || !validate) throw new Error('csv-to-dynamodb runs without its settings');
    const { createRowLoader } = await import('./dynamodb-load.js');
    const loader = createRowLoader({ ...dynamodb, schema: validate.schema, objectKey: ctx.name });
    const stats = await validateRows(input, output, ctx, loader.rows);
    const { table, itemsWritten, itemsRetried } = await loader.close();
    return { ...stats, dynamodb: { table, itemsWritten, itemsRetried } };
  },
};

/**
 * csv-validate's run, for it and for csv-to-dynamodb (whose loader takes the valid rows too): the rejects
 * file is opened beside the output, and kept when too many rejects fail the file, since it says why.
 */
async function validateRows(
  input: AsyncIterable<Buffer>,
  output: Writable,
  { source, size, validate, chunk, delimiter, openCsvOutput }: JobContext,
  rows?: ValidRowSink,
): Promise<JobStats> {
  if (!validate) throw new Error('a validating job runs without its settings');
  const { csvValidate, RejectThresholdError } = await import('./csv-validate.js');
  const rejectsName = describeLocation(validate.rejects);
  const rejects = await openCsvOutput(validate.rejects);
  try {
    const stats = await csvValidate(input, output, rejects.stream, {
      schema: validate.schema,
      source,
      delimiter,
      maxRejectedPercent: validate.maxRejectedPercent,
      rejectsName,
      header: chunk?.header,
      firstRow: chunk?.firstRow,
      firstLine: chunk?.firstLine,
      // A chunk's share of rejects says nothing about the file's: its caller applies the threshold.
      applyThreshold: chunk === undefined,
      // A row sink takes the rows in order, on one thread.
      threads: rows ? 1 : csvThreads(size),
      rows,
    });
    await rejects.done;
    return { ...stats, rejects: rejectsName };
  } catch (err) {
    // Too many rejects fail the file, but the rejects file says why: it is kept.
    if (err instanceof RejectThresholdError) await rejects.done.catch(() => rejects.abort());
    else await rejects.abort();
    throw err;
  }
}

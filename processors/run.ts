/**
 * One processor run: opens the input (the whole of it, or a chunk's range), runs the job into the output
 * (and csv-validate's rejects file), stamps the outputs with the source's metadata and the row counts, and
 * returns the statistics. With STATS_KEY / --stats it also stores them, once the output (and the rejects) are
 * complete: their existence means the run succeeded.
 */
import { finished } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { createAwsClients, type Component } from '../common/aws';
import type { Logger } from '../common/log';
import { ExplainedError, FAILURES } from '../contract/failures';
import { CSV_CONTENT_TYPE, isCsvJob, JOBS } from '../contract/jobs';
import type { ProcessorStats } from '../contract/reports';
import type { UploadedOutput } from '../contract/threads';
import { OUTPUT_METADATA, outputMetadata, type OutputOrigin } from '../contract/layout';
import { refuseWideEncodings } from '../csv/encoding';
import {
  RangeNotSatisfiableError,
  describeLocation,
  openInput,
  openOutput,
  replaceMetadata,
  type Location,
  openBufferedOutput,
  type BufferedOutput,
  type OutputHandle,
  type StoredOutput,
} from './object-io';
import { csvDelimiterOf, type ChunkRun, type RunSpec } from './run-spec';
import { RUNNERS, type JobStats } from './runners';

const STATS_CONTENT_TYPE = 'application/json';

const LF = 0x0a;

/**
 * The chunk range the run was given does not fit its input: past its end, or not ending where a record ends.
 * Only the input's bytes show it, so it is found while reading, after start-up; the range is a setting of
 * the run, planned wrong, so it exits as {@link FAILURES}' configuration does.
 */
export class ChunkRangeError extends ExplainedError {
  override name = 'ChunkRangeError';
  override readonly exitCode = FAILURES.configuration.exitCodes.EX_CONFIG;
}

/**
 * Passes chunks through, counting bytes, once the input is known not to be UTF-16 or UTF-32. For a chunk of a file that ends before the file does, checks that
 * its last byte ends a line, as the end of a record must: a range planned wrong (or for another version)
 * would otherwise cut a record in two without any error, and the concatenated parts would differ from the
 * file's output.
 */
export async function* readInput(
  source: AsyncIterable<Buffer>,
  counter: { bytes: number },
  chunk: ChunkRun | undefined,
  size: number | undefined,
  name: string,
): AsyncGenerator<Buffer> {
  let last: number | undefined;
  // Only the start of a file shows its encoding; a chunk further in belongs to a file the planner checked.
  const checked = chunk && chunk.start > 0 ? source : refuseWideEncodings(source, name);
  for await (const piece of checked) {
    counter.bytes += piece.length;
    if (piece.length > 0) last = piece[piece.length - 1];
    yield piece;
  }
  if (chunk && chunk.end !== size && last !== LF) {
    const { names, end } = chunk;
    throw new ChunkRangeError(
      `processor: ${names.end}=${end} is not the end of a record of ${name}: byte ${end - 1} is not a line feed. ` +
        'Chunks must end where records end: plan them with a scan of the quote state of this version of the file.',
    );
  }
}

/** The outputs being written, so that a signal can discard them before the process exits. */
const writing = new Set<Pick<OutputHandle, 'abort'>>();

/**
 * A whole CSV file up to this size has its output held in memory and written once, its row counts in its
 * metadata, instead of streamed and then copied onto itself to add them: one S3 request instead of two for
 * the small files that are most of a pipeline's. Its output is at most about 13 times as large (a header and
 * one-character rows, each given a `processed_at`), so a few MiB at most are held.
 */
export const BUFFERED_OUTPUT_MAX_INPUT_BYTES = 1024 * 1024;

/** Discards every output being written (their handles' abort: nothing is left at the destination). */
export async function discardOutputs(): Promise<void> {
  await Promise.all([...writing].map((handle) => handle.abort()));
}

/** Runs the job `spec` describes; its statistics, as the stats line prints them. */
export async function run(spec: RunSpec, log: Logger): Promise<ProcessorStats> {
  return (await runJob(spec, log)).report;
}

/**
 * {@link run}, also returning the main output as stored when it went to S3. `component` names the caller in
 * the AWS calls recorded with `AWS_CALL_LOG_DIR`: `inline` for a run on the worker's threads.
 */
export async function runJob(
  spec: RunSpec,
  log: Logger,
  component: Component = 'processor',
): Promise<{ report: ProcessorStats; output?: UploadedOutput }> {
  const { job, input, output, processedAt } = spec;
  const inS3 = [input, output, spec.validate?.rejects, spec.stats].some((l) => l?.kind === 's3');
  // One set of clients, made only when a location is in S3 or the job writes to DynamoDB.
  const aws = inS3 || spec.table !== undefined ? createAwsClients(spec.aws, component) : undefined;
  const s3: S3Client | undefined = inS3 ? aws?.s3 : undefined;
  const { chunk } = spec;
  const delimiter = isCsvJob(job) ? csvDelimiterOf(spec) : undefined;
  const range = chunk ? { start: chunk.start, end: chunk.end } : undefined;
  const source = describeLocation(input);
  const destination = describeLocation(output);
  log.info('processing', { job, source, destination, processedAt, ...(range ? { range } : {}) });

  const opened = await openInput(input, s3, range).catch((err: unknown) => {
    if (!(err instanceof RangeNotSatisfiableError) || !chunk) throw err;
    throw new ChunkRangeError(
      `processor: the range (${chunk.names.range}) does not fit the input: ${err.message}. ` +
        'Plan the chunks from this version of the file.',
      { cause: err },
    );
  });
  const origin: OutputOrigin = {
    job,
    processedAt,
    source: {
      ...(input.kind === 's3' ? { bucket: input.bucket, key: input.key } : { key: input.path }),
      ...(opened.etag ? { etag: opened.etag } : {}),
      ...(opened.versionId ? { versionId: opened.versionId } : {}),
    },
    ...(range ? { range } : {}),
  };
  const metadata = outputMetadata(origin);
  const open = async (location: Location, contentType: string) => {
    const handle = await openOutput(location, { contentType, metadata }, s3);
    writing.add(handle);
    return handle;
  };
  const buffered =
    output.kind === 's3' &&
    s3 &&
    isCsvJob(job) &&
    !chunk &&
    (opened.size ?? Infinity) <= BUFFERED_OUTPUT_MAX_INPUT_BYTES
      ? openBufferedOutput(output, s3)
      : undefined;
  let out: OutputHandle | BufferedOutput;
  try {
    out = buffered ?? (await open(output, JOBS[job].contentType));
  } catch (err) {
    opened.stream.destroy();
    throw err;
  }
  writing.add(out);
  const counter = { bytes: 0 };
  const bytes = readInput(opened.stream, counter, chunk, opened.size, source);
  let stats: JobStats;
  /** The streamed output as stored; a buffered one is stored below, with its row counts. */
  let streamed: StoredOutput | undefined;
  try {
    const name = input.kind === 's3' ? input.key : input.path;
    stats = {
      ...(await RUNNERS[job](bytes, out.stream, {
        processedAt,
        source,
        name,
        validate: spec.validate,
        chunk,
        delimiter,
        size: range ? range.end - range.start : opened.size,
        openCsvOutput: (location) => open(location, CSV_CONTENT_TYPE),
        dynamodb: spec.table && aws ? { client: aws.dynamodb, table: spec.table } : undefined,
      })),
    };
    if ('done' in out) streamed = await out.done;
    else await finished(out.stream);
  } catch (err) {
    opened.stream.destroy();
    await out.abort();
    throw err;
  } finally {
    writing.clear();
  }
  const report: ProcessorStats = {
    job,
    ...stats,
    output: destination,
    bytesIn: counter.bytes,
    ...(range ? { range } : {}),
  };

  // The output is complete. Its row counts were only known now: S3 set its metadata when the upload began.
  let copied = false;
  if (isCsvJob(job)) {
    // Both CSV jobs count rowsIn and rowsOut; csv-transform rejects nothing.
    Object.assign(
      metadata,
      outputMetadata(origin, {
        rowsIn: stats.rowsIn ?? 0,
        rowsOut: stats.rowsOut ?? 0,
        rowsRejected: stats.rowsRejected ?? 0,
      }),
    );
    // A chunk's part needs no copy: the merged output gets the file's counts, and the stats have the part's.
    if (output.kind === 's3' && s3 && !chunk && streamed) {
      copied = await replaceMetadata(output, { contentType: JOBS[job].contentType, metadata }, streamed, s3);
      if (!copied) {
        const why = 'the output is too large for CopyObject: only the statistics have its row counts';
        log.warn(why, { destination, bytes: streamed.bytes });
      }
    }
  }
  const stored = buffered ? await buffered.put({ contentType: JOBS[job].contentType, metadata }) : streamed!;
  // Last: the statistics tell whoever waits for them that everything else is in place.
  if (spec.stats) {
    const handle = await open(spec.stats, STATS_CONTENT_TYPE);
    try {
      handle.stream.end(`${JSON.stringify(report)}\n`);
      await handle.done;
    } catch (err) {
      await handle.abort();
      throw err;
    } finally {
      writing.clear();
    }
  }
  const sourceEtag = metadata[OUTPUT_METADATA.sourceEtag];
  return {
    report,
    ...(output.kind === 's3'
      ? {
          output: {
            key: output.key,
            size: stored.bytes,
            ...(stored.etag && !copied ? { etag: stored.etag } : {}),
            ...(sourceEtag ? { sourceEtag } : {}),
          },
        }
      : {}),
  };
}

/**
 * One processor run: opens the input (the whole of it, or a chunk's range), runs the job into the output
 * (and csv-validate's rejects file), stamps the outputs with the source's metadata and the row counts, and
 * returns the statistics. With STATS_KEY / --stats it also stores them, once the output (and the rejects) are
 * complete: their existence means the run succeeded.
 */
import type { S3Client } from '@aws-sdk/client-s3';
import { createAwsClients } from '../common/aws';
import { ConfigError } from '../common/config';
import type { Logger } from '../common/log';
import { isCsvJob, JOBS } from '../contract/jobs';
import type { ProcessorStats } from '../contract/reports';
import { OUTPUT_METADATA } from '../contract/layout';
import { refuseWideEncodings } from '../csv/encoding';
import {
  RangeNotSatisfiableError,
  describeLocation,
  openInput,
  openOutput,
  replaceMetadata,
  type Location,
  type OutputHandle,
  type StoredOutput,
} from './object-io';
import type { ChunkRun, RunSpec } from './run-spec';
import { RUNNERS, type JobStats } from './runners';

const STATS_CONTENT_TYPE = 'application/json';

const LF = 0x0a;

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
    throw new ConfigError(
      `processor: ${names.end}=${end} is not the end of a record of ${name}: byte ${end - 1} is not a line feed. ` +
        'Chunks must end where records end: plan them with a scan of the quote state of this version of the file.',
    );
  }
}

/** The outputs being written, so that a signal can discard them before the process exits. */
const writing = new Set<OutputHandle>();

/** Discards every output being written (their handles' abort: nothing is left at the destination). */
export async function discardOutputs(): Promise<void> {
  await Promise.all([...writing].map((handle) => handle.abort()));
}

/** Runs the job `spec` describes; its statistics, as the stats line prints them. */
export async function run(spec: RunSpec, log: Logger): Promise<ProcessorStats> {
  const { job, input, output, processedAt } = spec;
  const s3: S3Client | undefined = [input, output, spec.validate?.rejects, spec.stats].some(
    (l) => l?.kind === 's3',
  )
    ? createAwsClients(spec.aws, 'processor').s3
    : undefined;
  const { chunk } = spec;
  const range = chunk ? { start: chunk.start, end: chunk.end } : undefined;
  const source = describeLocation(input);
  const destination = describeLocation(output);
  log.info('processing', { job, source, destination, processedAt, ...(range ? { range } : {}) });

  const opened = await openInput(input, s3, range).catch((err: unknown) => {
    if (!(err instanceof RangeNotSatisfiableError) || !chunk) throw err;
    throw new ConfigError(
      `processor: the range (${chunk.names.range}) does not fit the input: ${err.message}. ` +
        'Plan the chunks from this version of the file.',
      { cause: err },
    );
  });
  const metadata: Record<string, string> = {
    [OUTPUT_METADATA.job]: job,
    [OUTPUT_METADATA.processedAt]: processedAt,
    ...(input.kind === 's3'
      ? { [OUTPUT_METADATA.sourceBucket]: input.bucket, [OUTPUT_METADATA.sourceKey]: input.key }
      : { [OUTPUT_METADATA.sourceKey]: input.path }),
    ...(opened.etag ? { [OUTPUT_METADATA.sourceEtag]: opened.etag } : {}),
    ...(opened.versionId ? { [OUTPUT_METADATA.sourceVersionId]: opened.versionId } : {}),
    ...(range
      ? {
          [OUTPUT_METADATA.rangeStart]: String(range.start),
          [OUTPUT_METADATA.rangeEnd]: String(range.end),
        }
      : {}),
  };
  const open = async (location: Location, contentType: string) => {
    const handle = await openOutput(location, { contentType, metadata }, s3);
    writing.add(handle);
    return handle;
  };
  let out: OutputHandle;
  try {
    out = await open(output, JOBS[job].contentType);
  } catch (err) {
    opened.stream.destroy();
    throw err;
  }
  const counter = { bytes: 0 };
  const bytes = readInput(opened.stream, counter, chunk, opened.size, source);
  let stats: JobStats;
  let stored: StoredOutput;
  try {
    const name = input.kind === 's3' ? input.key : input.path;
    stats = {
      ...(await RUNNERS[job](bytes, out.stream, {
        processedAt,
        source,
        name,
        validate: spec.validate,
        chunk,
        size: range ? range.end - range.start : opened.size,
        openCsvOutput: (location) => open(location, JOBS['csv-validate'].contentType),
      })),
    };
    stored = await out.done;
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
  if (isCsvJob(job)) {
    // Both CSV jobs count rowsIn and rowsOut; csv-transform rejects nothing.
    Object.assign(metadata, {
      [OUTPUT_METADATA.rowsIn]: String(stats.rowsIn ?? 0),
      [OUTPUT_METADATA.rowsOut]: String(stats.rowsOut ?? 0),
      [OUTPUT_METADATA.rowsRejected]: String(stats.rowsRejected ?? 0),
    });
    // A chunk's part needs no copy: the merged output gets the file's counts, and the stats have the part's.
    if (output.kind === 's3' && s3 && !chunk) {
      const replaced = await replaceMetadata(
        output,
        { contentType: JOBS[job].contentType, metadata },
        stored,
        s3,
      );
      if (!replaced) {
        const why = 'the output is too large for CopyObject: only the statistics have its row counts';
        log.warn(why, { destination, bytes: stored.bytes });
      }
    }
  }
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
  return report;
}

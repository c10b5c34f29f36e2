/**
 * Fan-out of a large CSV file's chunks, like Step Functions' Distributed Map: at most N chunks at a time,
 * each retried with backoff, a tolerated failure count or percentage, chunks an earlier run finished reused.
 *
 * Histories stay small whatever the number of chunks: the file's workflow runs one child workflow per batch of
 * chunks (`chunksPerChildWorkflow`), one batch after the other; each child runs its chunks N at a time and
 * signals its parent every few chunks, so the parent's history grows with the batches, not the chunks.
 */
import {
  ApplicationFailure,
  executeChild,
  getExternalWorkflowHandle,
  isCancellation,
  proxyActivities,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { InvalidMetadataError, parseChunkMetadata, type ChunkMetadata } from '../contract/chunk-metadata';
import { DEFAULTS } from '../contract/defaults';
import { CSV_DELIMITER_CHOICES, parseCsvDelimiter, type CsvDelimiter, type JobName } from '../contract/jobs';
import { INPUT_METADATA, stagingKeys } from '../contract/layout';
import type { PlannedChunk, SourceVersion } from '../contract/objects';
import {
  chunkProgressSignal,
  type ChunkOutcome,
  type ProcessFileOptions,
  type Route,
} from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { QUICK_RETRY } from './activity-options';
import { failureOf } from './failures';
import { computeActivities } from './run-processor';

/** What the chunks of one file share. */
export interface ChunkedFile {
  route: Route;
  job: JobName;
  source: SourceVersion;
  processedAt: string;
  stagingPrefix: string;
  /** The header record's text, handed to every chunk but the first. */
  header: string;
  /** The field separator of the object's metadata or schema, which planned the chunks. */
  delimiter?: CsvDelimiter;
  /** The schema the object's metadata names, for the validating jobs. */
  schema?: string;
}

export interface ProcessChunksInput {
  parentWorkflowId: string;
  file: ChunkedFile;
  chunks: PlannedChunk[];
  maxConcurrent: number;
  /** Failures this batch may have before it stops starting chunks (the file's remaining tolerance). */
  failureBudget: number;
  options: ProcessFileOptions;
}

/** The file's chunk settings: its options, overridden by its object metadata. */
export interface ChunkSettings {
  chunkSize: number;
  maxConcurrent: number;
  toleratedFailureCount?: number;
  toleratedFailurePercent?: number;
  chunksPerChild: number;
}

function invalidMetadata(name: string, value: string, expected: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `x-amz-meta-${name} is "${value}", expected ${expected}. Fix the metadata and upload the file again.`,
    type: FailureType.invalidInput,
    nonRetryable: true,
  });
}

/**
 * Reads `chunk-size`, `max-concurrency`, `tolerated-failure-count` and `tolerated-failure-percent` from the
 * object's metadata over the run's options.
 * @throws a permanent InvalidInput failure naming the metadata key and the expected form.
 */
export function chunkSettings(metadata: Record<string, string>, options: ProcessFileOptions): ChunkSettings {
  let parsed: ChunkMetadata;
  try {
    parsed = parseChunkMetadata(metadata);
  } catch (err) {
    if (err instanceof InvalidMetadataError) throw invalidMetadata(err.key, err.value, err.expected);
    throw err;
  }
  const count = parsed.toleratedFailureCount ?? options.toleratedFailureCount;
  const percent = parsed.toleratedFailurePercent ?? options.toleratedFailurePercent;
  return {
    chunkSize: parsed.chunkSize ?? options.chunkSizeBytes ?? DEFAULTS.chunkSizeBytes,
    maxConcurrent: parsed.maxConcurrent ?? options.maxConcurrentChunks ?? DEFAULTS.maxConcurrentChunks,
    ...(count !== undefined ? { toleratedFailureCount: count } : {}),
    ...(percent !== undefined ? { toleratedFailurePercent: percent } : {}),
    chunksPerChild: options.chunksPerChildWorkflow ?? DEFAULTS.chunksPerChildWorkflow,
  };
}

/**
 * The field separator `csv-delimiter` names, if the object's metadata has it.
 * @throws a permanent InvalidInput failure naming the metadata key, its value and the separators there are.
 */
export function csvDelimiterSetting(metadata: Record<string, string>): CsvDelimiter | undefined {
  const value = metadata[INPUT_METADATA.csvDelimiter];
  if (value === undefined) return undefined;
  const delimiter = parseCsvDelimiter(value);
  if (delimiter === undefined)
    throw invalidMetadata(INPUT_METADATA.csvDelimiter, value, CSV_DELIMITER_CHOICES);
  return delimiter;
}

/** How many failed chunks out of `total` the file tolerates (0 when no tolerance is set). */
export function toleratedFailures(settings: ChunkSettings, total: number): number {
  const { toleratedFailureCount: count, toleratedFailurePercent: percent } = settings;
  if (count === undefined && percent === undefined) return 0;
  return Math.min(count ?? total, percent === undefined ? total : Math.floor((percent * total) / 100));
}

/**
 * Runs every chunk through child workflows, one batch after the other, until all ran or more failed than
 * tolerated. Returns every chunk's outcome (chunks never started are absent).
 */
export async function fanOutChunks(
  file: ChunkedFile,
  chunks: PlannedChunk[],
  settings: ChunkSettings,
  options: ProcessFileOptions,
): Promise<ChunkOutcome[]> {
  const tolerated = toleratedFailures(settings, chunks.length);
  const outcomes: ChunkOutcome[] = [];
  let failed = 0;
  const { workflowId } = workflowInfo();
  for (
    let from = 0, batch = 1;
    from < chunks.length && failed <= tolerated;
    from += settings.chunksPerChild, batch++
  ) {
    const result = await executeChild(processChunks, {
      workflowId: `${workflowId}/chunks-${batch}`,
      args: [
        {
          parentWorkflowId: workflowId,
          file,
          chunks: chunks.slice(from, from + settings.chunksPerChild),
          maxConcurrent: settings.maxConcurrent,
          failureBudget: tolerated - failed,
          options,
        },
      ],
    });
    outcomes.push(...result);
    failed += result.filter((o) => o.status === 'failed').length;
  }
  return outcomes;
}

/**
 * How often (in chunks) a child reports to its parent: about 10 signals per batch, each costing the parent
 * a handful of events (signal, workflow task, search attribute update).
 */
const reportEvery = (chunks: number) => Math.max(1, Math.ceil(chunks / 10));

/**
 * Child workflow: one batch of a file's chunks, `maxConcurrent` at a time. A chunk whose part an earlier run
 * left in staging is reused. It stops starting chunks once more than `failureBudget` have failed.
 */
export async function processChunks(input: ProcessChunksInput): Promise<ChunkOutcome[]> {
  const { file, options } = input;
  // Finding a batch's finished parts takes a HeadObject per part: longer than a quick call.
  const listing = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', retry: QUICK_RETRY });
  const compute = computeActivities(options);
  const parent = getExternalWorkflowHandle(input.parentWorkflowId);
  const unreported = { done: 0, reused: 0, failed: 0 };
  let sinceReport = 0;
  const every = reportEvery(input.chunks.length);
  const report = async (force: boolean) => {
    if (!force && sinceReport < every) return;
    if (unreported.done + unreported.reused + unreported.failed === 0) return;
    const counts = { ...unreported };
    Object.assign(unreported, { done: 0, reused: 0, failed: 0 });
    sinceReport = 0;
    await parent.signal(chunkProgressSignal, counts);
  };

  const reused = new Set(
    await listing.completedChunks.executeWithOptions({ summary: 'find the chunks an earlier run finished' }, [
      {
        stagingPrefix: file.stagingPrefix,
        chunks: input.chunks,
        sourceEtag: file.source.etag,
        processedAt: file.processedAt,
      },
    ]),
  );
  const outcomes: ChunkOutcome[] = [];
  for (const index of reused) outcomes.push({ index, status: 'reused' });
  unreported.reused = reused.size;
  sinceReport = reused.size;
  await report(false);

  const queue = input.chunks.filter((c) => !reused.has(c.index));
  let failures = 0;
  const lane = async () => {
    for (let chunk = queue.shift(); chunk && failures <= input.failureBudget; chunk = queue.shift()) {
      const started = Date.now();
      const keys = stagingKeys(file.stagingPrefix, chunk.index);
      try {
        const run = await compute.runProcessor({
          route: file.route,
          job: file.job,
          source: file.source,
          processedAt: file.processedAt,
          destinationKey: keys.part,
          statsKey: keys.stats,
          rejectsKey: keys.rejects,
          ...(file.delimiter ? { delimiter: file.delimiter } : {}),
          ...(file.schema ? { schema: file.schema } : {}),
          chunk: { ...chunk, ...(chunk.start > 0 ? { header: file.header } : {}) },
        });
        outcomes.push({
          index: chunk.index,
          status: 'done',
          seconds: (Date.now() - started) / 1000,
          backend: run.backend,
          runId: run.runId,
        });
        unreported.done++;
      } catch (err) {
        if (isCancellation(err)) throw err;
        failures++;
        const failure = failureOf(err);
        outcomes.push({
          index: chunk.index,
          status: 'failed',
          seconds: (Date.now() - started) / 1000,
          error: failure.message,
          permanent: failure.permanent,
        });
        unreported.failed++;
      }
      sinceReport++;
      await report(false);
    }
  };
  await Promise.all(Array.from({ length: Math.min(input.maxConcurrent, queue.length) }, lane));
  await report(true);
  return outcomes.sort((a, b) => a.index - b.index);
}

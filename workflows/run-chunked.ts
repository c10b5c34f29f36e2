/**
 * Run chunked: the chunks in child workflows (process-chunks.ts), then the parts merged into the output.
 * Failed chunks within the tolerance keep the staging folder, so that a redrive reruns only them.
 */
import { ApplicationFailure, setHandler, workflowInfo } from '@temporalio/workflow';
import type { RunPlan } from '../activities/staging';
import { JOBS, validatesRows } from '../contract/jobs';
import type { PlannedChunk } from '../contract/objects';
import {
  chunkProgressSignal,
  type ChunkCounts,
  type ChunkOutcome,
  type ProcessFileOptions,
} from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { bulk, streaming } from './activity-options';
import {
  backendOf,
  checkRejectedShare,
  checkRows,
  mergedOutputMetadata,
  type RunOutcome,
} from './file-report';
import type { FileStatus } from './file-status';
import type { InspectedFile } from './inspection';
import { fanOutChunks, toleratedFailures } from './process-chunks';

/** Longest error text kept per failed chunk in the report. */
const MAX_CHUNK_ERROR_CHARS = 500;

export async function runChunked(
  file: InspectedFile,
  planned: RunPlan,
  options: ProcessFileOptions,
  status: FileStatus,
): Promise<RunOutcome> {
  const { stagingPrefix } = planned;
  const chunks: PlannedChunk[] = planned.chunks.map((c, index) => ({ index, ...c }));
  const counts: ChunkCounts = { total: chunks.length, done: 0, reused: 0, failed: 0 };
  setHandler(chunkProgressSignal, (delta) => {
    counts.done += delta.done;
    counts.reused += delta.reused;
    counts.failed += delta.failed;
    status.chunks(counts);
  });
  status.chunks(counts);

  status.stage('processing');
  const outcomes = await fanOutChunks(
    {
      route: file.route,
      job: file.job,
      source: file.source,
      processedAt: file.processedAt,
      stagingPrefix,
      header: planned.header,
      ...(file.delimiter ? { delimiter: file.delimiter } : {}),
      ...(file.schema ? { schema: file.schema } : {}),
    },
    chunks,
    file.settings,
    options,
  );
  const failed = outcomes.filter((o) => o.status === 'failed');
  Object.assign(counts, {
    done: outcomes.filter((o) => o.status === 'done').length,
    reused: outcomes.filter((o) => o.status === 'reused').length,
    failed: failed.length,
  });
  status.chunks(counts);
  checkTolerance(failed, chunks, toleratedFailures(file.settings, chunks.length));

  status.show('merging');
  const succeeded = outcomes.filter((o) => o.status !== 'failed').map((o) => o.index);
  const summary = await bulk.summarizeChunks.executeWithOptions(
    { summary: `add up the statistics of ${succeeded.length} chunks` },
    [{ stagingPrefix, indices: succeeded }],
  );
  checkRows(summary, failed.length === 0 ? planned.rows : undefined);
  const metadata = mergedOutputMetadata(file, summary, { total: chunks.length, failed: failed.length });
  const merge = (kind: 'part' | 'rejects', key: string) =>
    streaming.mergeParts.executeWithOptions(
      { summary: `merge ${succeeded.length} ${kind === 'part' ? 'parts' : 'rejects files'} into ${key}` },
      [
        {
          stagingPrefix,
          kind,
          indices: succeeded,
          destinationKey: key,
          contentType: JOBS[file.job].contentType,
          metadata,
        },
      ],
    );
  if (validatesRows(file.job)) {
    await merge('rejects', file.rejectsKey);
    checkRejectedShare(summary, file.rejectsKey);
  }
  await merge('part', file.destinationKey);
  status.set({ output: `s3://${file.info.bucket}/${file.destinationKey}` });
  if (failed.length === 0) {
    await bulk.deleteStaging.executeWithOptions({ summary: `delete the staging folder ${stagingPrefix}` }, [
      stagingPrefix,
    ]);
  }
  return {
    output: { key: file.destinationKey },
    summary,
    status: failed.length > 0 ? 'processed-with-failed-chunks' : 'processed',
    backend: backendOf(outcomes) ?? file.route,
    chunks: {
      ...counts,
      chunkSize: planned.chunkSize,
      ...(failed.length > 0 ? { staging: stagingPrefix } : {}),
      list: outcomes.map((o) => ({
        ...o,
        start: chunks[o.index]!.start,
        end: chunks[o.index]!.end,
        ...(o.error ? { error: o.error.slice(0, MAX_CHUNK_ERROR_CHARS) } : {}),
      })),
    },
    result: {
      stats: { rowsIn: summary.rowsIn, rowsOut: summary.rowsOut, rowsRejected: summary.rowsRejected },
    },
  };
}

/** More failed chunks than tolerated fail the file, naming the first and how to rerun only the failed ones. */
function checkTolerance(failed: ChunkOutcome[], chunks: PlannedChunk[], tolerated: number): void {
  if (failed.length <= tolerated) return;
  const first = failed[0]!;
  const range = chunks[first.index]!;
  throw ApplicationFailure.create({
    message:
      `${failed.length} of ${chunks.length} chunks failed, ${tolerated} tolerated; chunk ${first.index + 1} ` +
      `(bytes ${range.start}-${range.end - 1}): ${first.error ?? 'failed'}. ` +
      `Fix the cause, then rerun only the failed chunks: npm run redrive -- '${workflowInfo().workflowId}'`,
    type: FailureType.chunksFailed,
    nonRetryable: failed.some((o) => o.permanent),
  });
}

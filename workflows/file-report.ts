/**
 * What a file's run amounts to: the checks of its row counts, its report, the metadata of a merged output and
 * the workflow's result. Pure functions of what the steps returned: tested alone (test/file-decisions.test.ts).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { ComputeResult } from '../activities/compute';
import type { Finished, FinishInput } from '../activities/finish';
import { isCsvJob } from '../contract/jobs';
import { OUTPUT_METADATA, outputMetadata } from '../contract/layout';
import type { ObjectRef } from '../contract/objects';
import { excessRejects, type ChunksReport, type FileReport, type Summary } from '../contract/reports';
import { type ChunkCounts, type ChunkOutcome, type ProcessFileResult } from '../contract/workflow';
import { FailureType } from '../contract/failures';
import type { InspectedFile } from './inspection';

/** What a run (whole or chunked) hands to the finish step. */
export interface RunOutcome {
  output: FinishInput['output'];
  summary: Summary;
  chunks: ChunksReport;
  status: FileReport['status'];
  /** The backend that ran the file (a chunked file: most of its chunks). */
  backend: string;
  statsKey?: string;
  /** text-to-pdf's fields of the report. */
  pdf?: Pick<FileReport, 'pages' | 'lines' | 'invalidSequences' | 'missingGlyphs'>;
  result: Partial<ProcessFileResult>;
}

/** `rows in = rows out + rows rejected`, and the rows the scan counted, or an OutputInvalid failure. */
export function checkRows(summary: Summary, scannedRows: number | undefined): void {
  const problems = [
    summary.rowsIn === summary.rowsOut + summary.rowsRejected
      ? undefined
      : `rows in (${summary.rowsIn}) ≠ rows out (${summary.rowsOut}) + rows rejected (${summary.rowsRejected})`,
    scannedRows === undefined || scannedRows === summary.rowsIn
      ? undefined
      : `the chunks read ${summary.rowsIn} rows but the plan's scan counted ${scannedRows}`,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      message: `the output failed verification: ${problems.join('; ')}`,
      type: FailureType.outputInvalid,
    });
  }
}

/** Too many rejected rows fail the file (csv-validate's threshold, applied to the whole file). */
export function checkRejectedShare(summary: Summary, rejectsKey: string): void {
  const excess =
    summary.maxRejectedPercent === undefined ? undefined : excessRejects(summary, summary.maxRejectedPercent);
  if (!excess) return;
  throw ApplicationFailure.create({
    message:
      `${excess.share} (failed checks: ${excess.rules}). The rejects are in ${rejectsKey}; fix the file and ` +
      'upload it again, or raise maxRejectedPercent in the schema.',
    type: FailureType.invalidInput,
    nonRetryable: true,
  });
}

/** How a whole file's run went, besides its result. */
export interface WholeRun {
  seconds: number;
  /** Why it left its route. */
  rerouted: string | undefined;
  /** Where the run left its statistics, if it could not hand them back. */
  statsKey: string | undefined;
}

/** The outcome of a whole file's run. */
export function wholeRunOutcome(
  file: InspectedFile,
  run: ComputeResult,
  { seconds, rerouted, statsKey }: WholeRun,
): RunOutcome {
  return {
    output: run.output ? { stored: run.output } : { key: run.destination.key },
    summary: run.summary!,
    status: 'processed',
    backend: run.backend,
    ...(statsKey ? { statsKey } : {}),
    chunks: {
      total: 1,
      done: 1,
      reused: 0,
      failed: 0,
      chunkSize: file.settings.chunkSize,
      list: [
        {
          index: 0,
          status: 'done',
          start: 0,
          end: file.info.size,
          seconds,
          backend: run.backend,
          runId: run.runId,
        },
      ],
    },
    // A PDF's report says what it holds, and which scripts it could not show.
    ...(file.job === 'text-to-pdf'
      ? {
          pdf: {
            pages: run.stats.pages,
            lines: run.stats.linesIn,
            ...(run.stats.invalidSequences ? { invalidSequences: run.stats.invalidSequences } : {}),
            ...(run.missingGlyphs ? { missingGlyphs: run.missingGlyphs } : {}),
          },
        }
      : {}),
    result: {
      backend: run.backend,
      runId: run.runId,
      ...(rerouted ? { rerouted } : {}),
      awsRequest: run.awsRequest,
      stats: run.stats,
    },
  };
}

/** A CSV file's data rows: read, written and rejected. */
export const rowsOf = (summary: Summary) => ({
  in: summary.rowsIn,
  out: summary.rowsOut,
  rejected: summary.rowsRejected,
});

/** The user metadata of a chunked file's merged output (the processor writes that of a whole file's). */
export function mergedOutputMetadata(
  file: InspectedFile,
  summary: Summary,
  chunks: { total: number; failed: number },
): Record<string, string> {
  return {
    ...outputMetadata({ job: file.job, processedAt: file.processedAt, source: file.source }, summary),
    [OUTPUT_METADATA.chunks]: String(chunks.total),
    [OUTPUT_METADATA.chunksFailed]: String(chunks.failed),
  };
}

/** The backend most chunks ran on (chunks reused from an earlier run say none). */
export function backendOf(outcomes: readonly ChunkOutcome[]): string | undefined {
  const counts = new Map<string, number>();
  for (const o of outcomes) if (o.backend) counts.set(o.backend, (counts.get(o.backend) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0]?.[0];
}

/** The file's report as the finish step writes it (it adds the verified output and the rejects). */
export function fileReport(
  file: InspectedFile,
  run: RunOutcome,
  durationSeconds: number,
): FinishInput['report'] {
  const { info, source, job, route, processorType, processedAt } = file;
  const { summary } = run;
  return {
    status: run.status,
    object: { ...source, size: info.size },
    job,
    route,
    processorType,
    processedAt,
    durationSeconds,
    ...(isCsvJob(job)
      ? {
          rows: rowsOf(summary),
          bareQuoteFields: summary.bareQuoteFields,
          rejectsByRule: summary.rejectsByRule,
          columns: summary.columns,
          totals: summary.totals,
          ...(summary.dynamodb
            ? { dynamodb: { ...summary.dynamodb, itemsRejected: summary.rowsRejected } }
            : {}),
        }
      : {}),
    chunks: run.chunks,
    ...run.pdf,
  };
}

/** The workflow's result for a processed file. */
export function processedResult(
  object: ObjectRef,
  file: InspectedFile,
  run: RunOutcome,
  finished: Finished,
  messagesAcknowledged: number,
): ProcessFileResult {
  const { info, route, processorType, job, processedAt } = file;
  return {
    status: 'processed',
    object: { ...object, size: info.size, etag: info.etag },
    route,
    processorType,
    job,
    processedAt,
    ...run.result,
    output: finished.output,
    ...(run.chunks.total > 1 ? { chunks: countsOf(run.chunks) } : {}),
    report: finished.report,
    messagesAcknowledged,
  };
}

function countsOf({ total, done, reused, failed }: ChunksReport): ChunkCounts {
  return { total, done, reused, failed };
}

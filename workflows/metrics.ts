/**
 * The pipeline's own metrics, which the worker serves beside the Temporal SDK's on its Prometheus endpoint
 * (`METRICS_ADDRESS`): files by job, route and outcome; CSV rows; bytes; processing and end-to-end durations;
 * dead-lettered files. The workflow emits them through the SDK's metric meter, which never emits on replay, so a
 * file counts once however often its history is replayed. Names and tags: docs/architecture.md, "Metrics".
 */
import { metricMeter } from '@temporalio/workflow';
import type { FileReport } from '../contract/reports';

/**
 * How a file ended: its report's status; `skipped` (a newer version superseded it); `failed` (permanently: its
 * messages go to the dead-letter queue) or `released` (a transient failure: SQS delivers it again).
 */
export type FileOutcome = FileReport['status'] | 'skipped' | 'failed' | 'released';

/** Tags of every file metric: what the file was and where it ran. */
export interface FileTags {
  job: string;
  route: string;
}

const counter = (name: string, unit: string, description: string) =>
  metricMeter.createCounter(name, unit, description);
const seconds = (name: string, description: string) =>
  metricMeter.createHistogram(name, 'float', 's', description);

/** A file that ended, how it ended, and how long it took from its workflow's start (the hand-over). */
export function recordFile(tags: FileTags, outcome: FileOutcome, endToEndSeconds: number): void {
  counter('pipeline_files', 'files', 'Files that ended, by job, route and outcome').add(1, {
    ...tags,
    outcome,
  });
  seconds(
    'pipeline_file_seconds',
    'From the hand-over of a file to its end, by job, route and outcome',
  ).record(endToEndSeconds, { ...tags, outcome });
}

/** A processed file's bytes, rows and processing time (its runs, chunks included), by job and backend. */
export function recordProcessed(
  tags: FileTags & { backend: string },
  report: Pick<FileReport, 'object' | 'rows'>,
  processingSeconds: number,
): void {
  counter('pipeline_bytes', 'bytes', 'Bytes of the processed files, by job').add(report.object.size, {
    job: tags.job,
  });
  seconds('pipeline_processing_seconds', 'Time the processor runs of a file took, by job and backend').record(
    processingSeconds,
    { job: tags.job, backend: tags.backend },
  );
  if (report.rows) {
    const rows = counter(
      'pipeline_rows',
      'rows',
      'Rows of the CSV files, by job and kind: in, out, rejected',
    );
    for (const kind of ['in', 'out', 'rejected'] as const)
      rows.add(report.rows[kind], { job: tags.job, kind });
  }
}

/** A failed file whose messages went to the dead-letter queue, by failure type. */
export function recordDeadLetter(type: string): void {
  counter('pipeline_dead_letters', 'files', 'Files dead-lettered by their workflow, by failure type').add(1, {
    type,
  });
}

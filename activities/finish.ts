/**
 * The end of a file in one activity: verify the output, write the report, delete the run's statistics,
 * acknowledge the messages. One activity instead of four keeps a small file at three activities; each step
 * is idempotent, so a retried attempt redoes them all safely.
 */
import type { SourceVersion } from '../contract/objects';
import type { FileReport, VerifiedOutput } from '../contract/reports';
import type { QueueMessage } from '../contract/workflow';
import { checkOutput, type OutputFacts, type createObjectActivities } from './objects';
import type { OutputBucket } from './output-bucket';
import type { createQueueActivities } from './queue';
import type { createReportActivities } from './reports';

export interface FinishInput {
  source: SourceVersion;
  processedAt: string;
  /** The output to verify: as the run's upload left it (inline runs), or by its key (a HeadObject). */
  output: { stored: OutputFacts } | { key: string };
  /** An empty source legitimately gives an empty output. */
  allowEmpty: boolean;
  /** The file's report, but for its `output`, which verification fills in, and its `rejects`. */
  report: Omit<FileReport, 'output' | 'rejects'>;
  /** The validating jobs: where the rejects are in the output bucket. */
  rejectsKey?: string;
  /** A Batch or ECS run's statistics object, deleted once the report holds them. */
  statsKey?: string;
  /** The messages to delete once the report is written. */
  messages: QueueMessage[];
}

export interface Finished {
  output: VerifiedOutput;
  report: { bucket: string; key: string };
}

/** The activities whose steps `finishFile` takes, and the output bucket. */
export interface FinishDeps {
  outputBucket: string;
  bucket: Pick<OutputBucket, 'deleteKeys'>;
  objects: Pick<ReturnType<typeof createObjectActivities>, 'verifyOutput'>;
  reports: Pick<ReturnType<typeof createReportActivities>, 'writeReport'>;
  queue: Pick<ReturnType<typeof createQueueActivities>, 'acknowledge'>;
}

export function createFinishActivities(deps: FinishDeps) {
  return {
    /**
     * Verifies the output (OutputInvalid, retryable, when it fails), writes the report, deletes the run's
     * statistics object and the messages: nothing is acknowledged before the report is written.
     */
    async finishFile(input: FinishInput): Promise<Finished> {
      const { source, allowEmpty } = input;
      const output =
        'stored' in input.output
          ? checkOutput(input.output.stored, { source, allowEmpty })
          : await deps.objects.verifyOutput({ key: input.output.key, source, allowEmpty });
      const report = await deps.reports.writeReport({
        source,
        processedAt: input.processedAt,
        report: {
          ...input.report,
          output,
          ...(input.rejectsKey ? { rejects: { bucket: deps.outputBucket, key: input.rejectsKey } } : {}),
        },
      });
      if (input.statsKey) await deps.bucket.deleteKeys([input.statsKey]);
      await deps.queue.acknowledge(input.messages);
      return { output, report };
    },
  };
}

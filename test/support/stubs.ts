/** Stand-ins for the S3 and SQS activities of `processFile` (and the listing of `reprocess`), for tests that stub them. */
import type { Activities } from '../../activities';
import { summarize } from '../../activities/staging';
import { objectSchema, type ObjectInfo } from '../../activities/objects';
import { failureReportKey } from '../../contract/layout';

/** The schema an object with no `x-amz-meta-schema` has: the built-in default. */
export const DEFAULT_SCHEMA = objectSchema({}, 's3://in/stub.csv');

/**
 * Every activity but the compute one: the object is `info`, every output verifies, every message operation
 * succeeds, and every file runs whole, in one chunk. Tests override what they look at.
 */
export function stubActivities(info: ObjectInfo): Omit<Activities, 'runProcessor'> {
  return {
    inspectObject: async () => info,
    verifyOutput: async ({ key }) => ({ bucket: 'out', key, size: info.size }),
    finishFile: async ({ output, source }) => ({
      output: { bucket: 'out', key: 'stored' in output ? output.stored.key : output.key, size: info.size },
      report: { bucket: 'out', key: `reports/x/${source.key}.json` },
    }),
    extendVisibility: async () => {},
    acknowledge: async () => {},
    moveToDeadLetter: async () => {},
    release: async () => {},
    writeFailureReport: async () => ({ bucket: 'out', key: failureReportKey(info.key) }),
    buildDailyReport: async () => {
      throw new Error(
        'processFile never builds the daily report (test/daily-report.test.ts runs the real one)',
      );
    },
    // An empty bucket: reprocess tests serve their own listing.
    listObjectPage: async () => ({ files: [] }),
    ...wholeFileStubs(),
  };
}

function wholeFileStubs(): Pick<
  Activities,
  'planRun' | 'completedChunks' | 'summarizeChunks' | 'mergeParts' | 'writeReport' | 'deleteStaging'
> {
  return {
    planRun: async ({ size, chunkSize, processedAt }) => ({
      stagingPrefix: 'staging/test/',
      processedAt,
      chunkSize,
      header: '',
      chunks: [{ start: 0, end: size, firstRow: 1, firstLine: 1 }],
    }),
    completedChunks: async () => [],
    summarizeChunks: async () => summarize([{ rowsIn: 1, rowsOut: 1, rowsRejected: 0 }]),
    mergeParts: async ({ destinationKey }) => ({ key: destinationKey, size: 0, parts: 0 }),
    writeReport: async ({ source }) => ({ bucket: 'out', key: `reports/x/${source.key}.json` }),
    deleteStaging: async () => 0,
  };
}

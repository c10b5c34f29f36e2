/** Stand-ins for the chunk activities in tests that stub S3: every file runs whole, in one chunk. */
import type { Activities } from '../../activities';
import { summarize } from '../../activities/chunks';

export function wholeFileStubs(): Pick<
  Activities,
  'planRun' | 'completedChunks' | 'summarizeChunks' | 'mergeParts' | 'writeReport' | 'deleteStaging'
> {
  return {
    planRun: async ({ size, chunkSize, processedAt }) => ({
      stagingPrefix: 'staging/test/',
      processedAt,
      reused: false,
      chunkSize,
      header: '',
      chunks: [{ start: 0, end: size, firstRow: 1, firstLine: 1 }],
    }),
    completedChunks: async () => [],
    summarizeChunks: async () => summarize([{ rowsIn: 1, rowsOut: 1, rowsRejected: 0 }]),
    mergeParts: async ({ destinationKey }) => ({ key: destinationKey, size: 0, parts: 0 }),
    writeReport: async ({ sourceKey }) => ({ bucket: 'out', key: `reports/x/${sourceKey}.json` }),
    deleteStaging: async () => 0,
  };
}

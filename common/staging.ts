/**
 * Deterministic keys in the output bucket for chunked runs and reports: a retry or a rerun overwrites the
 * same objects. Pure, so the workflow sandbox can use it too.
 */

/** Where chunked runs keep their plan and parts in the output bucket (expired after a day by infra/). */
export const STAGING_PREFIX = 'staging/';

/** One chunk's objects under the file's staging folder; the statistics are written last. */
export function stagingKeys(prefix: string, index: number) {
  const n = String(index + 1).padStart(5, '0');
  return {
    part: `${prefix}part-${n}.csv`,
    rejects: `${prefix}rejects-${n}.csv`,
    stats: `${prefix}stats-${n}.json`,
  };
}

/** A file's report: by day, then by source key, so a rerun on the same day overwrites it. */
export const reportKeyFor = (sourceKey: string, processedAt: string) =>
  `reports/${processedAt.slice(0, 10)}/${sourceKey}.json`;

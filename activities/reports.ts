/**
 * The reports people read in the output bucket: a processed file's (`reports/YYYY-MM-DD/KEY.json`) and a failed
 * run's (`reports/failures/KEY.json`), which a later successful run of the same version removes.
 */
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { activityInfo } from '@temporalio/activity';
import { isNotFound, isPreconditionFailed } from '../common/aws';
import { failureReportKey, reportKeyFor } from '../contract/layout';
import type { SourceVersion } from '../contract/objects';
import type { FailureReport, FileReport } from '../contract/reports';
import { outputBucketOf } from './output-bucket';

export interface ReportInput {
  /**
   * The version processed. The report goes to `reports/YYYY-MM-DD/<source key>.json`, the date of
   * `processedAt`; a failure report an earlier run of this version left is removed.
   */
  source: SourceVersion;
  processedAt: string;
  report: FileReport;
}

/** The workflow execution an activity runs for, as the reports name it. */
function execution() {
  const { workflowId, runId } = activityInfo().workflowExecution ?? {};
  return { workflowId, runId };
}

export function createReportActivities({ s3, outputBucket }: { s3: S3Client; outputBucket: string }) {
  const bucket = outputBucketOf(s3, outputBucket);

  /** Deletes the failure report of `source` if it is this version's, and only if no other run replaced it meanwhile. */
  const removeFailureReport = async (source: SourceVersion): Promise<void> => {
    const key = failureReportKey(source.key);
    const found = await bucket.getText(key);
    if (!found) return;
    const failed: Partial<SourceVersion> = (JSON.parse(found.text) as Partial<FailureReport>).object ?? {};
    if (failed.etag !== source.etag || (failed.versionId ?? source.versionId) !== source.versionId) return;
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: outputBucket, Key: key, IfMatch: found.etag }));
    } catch (err) {
      // Rewritten since it was read: by a run of another version, whose failure stays.
      if (!isPreconditionFailed(err) && !isNotFound(err)) throw err;
    }
  };

  return {
    /**
     * Writes the file's JSON report under `reports/YYYY-MM-DD/`, then removes the failure report of an
     * earlier failed run of the same version: the file is processed, and people look there for failures.
     * A failure report of another version (a newer upload that failed) stays.
     */
    async writeReport({
      source,
      processedAt,
      report,
    }: ReportInput): Promise<{ bucket: string; key: string }> {
      const key = reportKeyFor(source.key, processedAt);
      await bucket.putJson(key, { ...execution(), ...report }, 2);
      await removeFailureReport(source);
      return { bucket: outputBucket, key };
    },

    /** Writes the failure report next to the outputs, where people look for results. */
    async writeFailureReport(report: FailureReport): Promise<{ bucket: string; key: string }> {
      const key = failureReportKey(report.object.key);
      await bucket.putJson(key, { ...report, ...execution(), failedAt: new Date().toISOString() }, 2);
      return { bucket: outputBucket, key };
    },
  };
}

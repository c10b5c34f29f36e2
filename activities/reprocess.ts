/** The listing of a reprocess run: one page of object versions under a prefix. */
import { ListObjectVersionsCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { isNoSuchBucket } from '../common/aws';
import { workflowIdFor } from '../common/ids';
import { unquoteEtag, type ObjectRef } from '../contract/objects';
import type { FileToReprocess, ListingPage, ListingRequest } from '../contract/reprocess';
import { FailureType } from '../contract/failures';

export interface ReprocessDeps {
  s3: S3Client;
}

export function createReprocessActivities({ s3 }: ReprocessDeps) {
  return {
    /**
     * One page of ListObjectVersions under the prefix: the latest version of each key, never a delete marker
     * (a deleted key has none). ListObjectVersions rather than ListObjectsV2, because the workflow ID of a
     * version on a versioned bucket is its versionId, as in the notification; an unversioned bucket answers
     * VersionId "null", left out, so that the ETag names the version as the notification's does.
     */
    async listObjectPage({ bucket, prefix, pageSize, cursor }: ListingRequest): Promise<ListingPage> {
      const page = await s3
        .send(
          new ListObjectVersionsCommand({
            Bucket: bucket,
            Prefix: prefix,
            MaxKeys: pageSize,
            ...(cursor ? { KeyMarker: cursor.keyMarker } : {}),
            ...(cursor?.versionIdMarker ? { VersionIdMarker: cursor.versionIdMarker } : {}),
          }),
        )
        .catch((err: unknown) => {
          // Permanent: retrying would only delay the answer by minutes.
          if (!isNoSuchBucket(err)) throw err;
          throw ApplicationFailure.create({
            message: `bucket ${bucket} does not exist, so s3://${bucket}/${prefix} cannot be reprocessed: name an input bucket (--bucket).`,
            type: FailureType.bucketMissing,
            nonRetryable: true,
            cause: err as Error,
          });
        });
      const files: FileToReprocess[] = (page.Versions ?? [])
        .filter((v) => v.IsLatest && v.Key !== undefined)
        .map((v) => {
          const object: ObjectRef = {
            bucket,
            key: v.Key!,
            etag: unquoteEtag(v.ETag ?? ''),
            ...(v.VersionId && v.VersionId !== 'null' ? { versionId: v.VersionId } : {}),
            ...(v.Size !== undefined ? { size: v.Size } : {}),
          };
          return { object, workflowId: workflowIdFor(object) };
        });
      if (!page.IsTruncated || !page.NextKeyMarker) return { files };
      return {
        files,
        next: {
          keyMarker: page.NextKeyMarker,
          ...(page.NextVersionIdMarker ? { versionIdMarker: page.NextVersionIdMarker } : {}),
        },
      };
    },
  };
}

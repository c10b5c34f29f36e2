/** S3 activities on objects: inspect the notified object, verify the processor's output. */
import { HeadBucketCommand, HeadObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { isNoSuchBucket, isNotFound, isPreconditionFailed } from '../common/aws';
import { openSchemaFile, type SchemaFile } from '../common/schema';
import { INPUT_METADATA, OUTPUT_METADATA } from '../contract/layout';
import { unquoteEtag, type ObjectRef, type ObjectSchema, type SourceVersion } from '../contract/objects';
import type { VerifiedOutput } from '../contract/reports';
import { FailureType } from '../contract/failures';

export interface ObjectDeps {
  s3: S3Client;
  /** Bucket the processors write to; verification reads it. */
  outputBucket: string;
  /** The schema file and default schema of the CSV jobs (SCHEMA_FILE, SCHEMA), as the processors have them. */
  schemas?: { file: SchemaFile; name?: string };
}

/** What HeadObject says of the notified object version. */
export interface ObjectInfo extends SourceVersion {
  size: number;
  contentType?: string;
  /** User metadata (`x-amz-meta-*`), keys in lower case. */
  metadata: Record<string, string>;
  /** The CSV schema it is processed with, if it is processed as CSV: `x-amz-meta-schema`'s, else the default. */
  schema: ObjectSchema;
}

export interface VerifyOutputInput {
  key: string;
  source: Pick<SourceVersion, 'etag' | 'versionId'>;
  /** An empty source legitimately gives an empty output (an empty CSV stays empty). */
  allowEmpty: boolean;
}

/** What an output says of itself: its size, and the source version its metadata names. */
export interface OutputFacts extends VerifiedOutput {
  sourceEtag: string | undefined;
  /** Checked only when it is known (HeadObject reads it; an inline run's upload does not return it). */
  sourceVersionId?: string | undefined;
}

/**
 * The output is not empty and was produced from this object version, or a retryable OutputInvalid failure.
 * The facts come from a HeadObject of the output, or from the upload of an inline run, which S3 answered.
 */
export function checkOutput(
  output: OutputFacts,
  { source, allowEmpty }: Omit<VerifyOutputInput, 'key'>,
): VerifiedOutput {
  const problems = [
    allowEmpty || output.size > 0 ? undefined : 'it is empty',
    output.sourceEtag === source.etag
      ? undefined
      : `it was produced from ETag ${output.sourceEtag ?? '(none)'}, not ${source.etag}`,
    !source.versionId || !('sourceVersionId' in output) || output.sourceVersionId === source.versionId
      ? undefined
      : `it was produced from version ${output.sourceVersionId ?? '(none)'}, not ${source.versionId}`,
  ].filter((p): p is string => p !== undefined);
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      message: `output s3://${output.bucket}/${output.key} failed verification: ${problems.join('; ')}`,
      type: FailureType.outputInvalid,
    });
  }
  return { bucket: output.bucket, key: output.key, size: output.size };
}

/** The permanent failure of a notification naming a bucket that does not exist. */
export function bucketMissing(bucket: string, uri: string, cause: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    message: `bucket ${bucket} does not exist, so ${uri} cannot be processed: it was deleted, or the notification names a wrong bucket.`,
    type: FailureType.bucketMissing,
    nonRetryable: true,
    cause: cause as Error,
  });
}

/**
 * The schema of an object with `metadata`: the one its `x-amz-meta-schema` names, else the default.
 * @throws a non-retryable InvalidInput failure when the metadata names a schema the file does not have.
 */
export function objectSchema(
  metadata: Record<string, string>,
  uri: string,
  schemas: NonNullable<ObjectDeps['schemas']> = { file: openSchemaFile(undefined) },
): ObjectSchema {
  const named = metadata[INPUT_METADATA.schema] || undefined;
  const { names, file } = schemas.file;
  if (named !== undefined) {
    if (!names.includes(named))
      throw ApplicationFailure.create({
        message:
          `${uri}: x-amz-meta-${INPUT_METADATA.schema} is ${JSON.stringify(named)}, a schema ${file} does not have; ` +
          `it has ${names.join(', ')}. Fix the metadata and upload the file again.`,
        type: FailureType.invalidInput,
        nonRetryable: true,
      });
  }
  const schema = schemas.file.schema(named ?? schemas.name);
  return {
    name: schema.name,
    named: named !== undefined,
    loadsTable: schema.table !== undefined,
    ...(schema.delimiter ? { delimiter: schema.delimiter } : {}),
  };
}

export function createObjectActivities({ s3, outputBucket, schemas }: ObjectDeps) {
  /** A HEAD answers 404 without a body, for a missing key and a missing bucket alike: ask the bucket. */
  const bucketExists = (bucket: string) =>
    s3.send(new HeadBucketCommand({ Bucket: bucket })).then(
      () => true,
      (err: unknown) => !isNotFound(err),
    );

  return {
    /**
     * HeadObject on the notified version. A missing object is permanent; one overwritten since the
     * notification is superseded (its newer version has a notification of its own).
     */
    async inspectObject(ref: ObjectRef): Promise<ObjectInfo> {
      const uri = `s3://${ref.bucket}/${ref.key}`;
      if (ref.bucket === outputBucket) {
        // Processing an output would write outputs/outputs/…, whose notification would start it again.
        throw ApplicationFailure.create({
          message: `${uri} is in the output bucket, whose objects are never processed: remove ${outputBucket} from INPUT_BUCKETS.`,
          type: FailureType.foreignBucket,
          nonRetryable: true,
        });
      }
      try {
        const head = await s3.send(
          new HeadObjectCommand({
            Bucket: ref.bucket,
            Key: ref.key,
            ...(ref.versionId ? { VersionId: ref.versionId } : {}),
            ...(ref.etag && !ref.versionId ? { IfMatch: `"${ref.etag}"` } : {}),
          }),
        );
        const metadata = Object.fromEntries(
          Object.entries(head.Metadata ?? {}).map(([k, v]) => [k.toLowerCase(), v]),
        );
        return {
          bucket: ref.bucket,
          key: ref.key,
          size: head.ContentLength ?? 0,
          ...(head.ContentType ? { contentType: head.ContentType } : {}),
          etag: unquoteEtag(head.ETag ?? ''),
          ...(head.VersionId && head.VersionId !== 'null' ? { versionId: head.VersionId } : {}),
          metadata,
          schema: objectSchema(metadata, uri, schemas),
        };
      } catch (err) {
        if (isNoSuchBucket(err) || (isNotFound(err) && !(await bucketExists(ref.bucket)))) {
          throw bucketMissing(ref.bucket, uri, err);
        }
        if (isNotFound(err)) {
          throw ApplicationFailure.create({
            message: `${uri} does not exist: it was deleted after the notification. Upload it again to process it.`,
            type: FailureType.objectMissing,
            nonRetryable: true,
            cause: err as Error,
          });
        }
        if (isPreconditionFailed(err)) {
          throw ApplicationFailure.create({
            message: `${uri} was overwritten after the notification (ETag ${ref.etag} is gone); its newer version is processed by its own workflow.`,
            type: FailureType.objectSuperseded,
            nonRetryable: true,
            cause: err as Error,
          });
        }
        throw err;
      }
    },

    /** The output exists, is not empty and was produced from this object version. Retryable otherwise. */
    async verifyOutput({ key, source, allowEmpty }: VerifyOutputInput): Promise<VerifiedOutput> {
      let head;
      try {
        head = await s3.send(new HeadObjectCommand({ Bucket: outputBucket, Key: key }));
      } catch (err) {
        if (!isNotFound(err)) throw err;
        throw ApplicationFailure.create({
          message: `output s3://${outputBucket}/${key} is missing although the processor succeeded`,
          type: FailureType.outputInvalid,
          cause: err as Error,
        });
      }
      const meta = head.Metadata ?? {};
      return checkOutput(
        {
          bucket: outputBucket,
          key,
          size: head.ContentLength ?? 0,
          sourceEtag: meta[OUTPUT_METADATA.sourceEtag],
          sourceVersionId: meta[OUTPUT_METADATA.sourceVersionId],
        },
        { source, allowEmpty },
      );
    },
  };
}

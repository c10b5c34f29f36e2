/** The input and output buckets, their access-log bucket, and the input bucket's notification to the queue. */
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { STAGING_PREFIX } from '../../contract/layout';
import { skipCheckov } from './checks';

/** Props of {@link PipelineStorage}. */
export interface PipelineStorageProps {
  /** Queue that receives the input bucket's ObjectCreated notifications. */
  readonly notificationQueue: sqs.IQueue;
  /**
   * Days after which outputs move to S3 Glacier Flexible Retrieval.
   * @default 30
   */
  readonly outputArchiveAfterDays?: number;
}

/**
 * Both buckets are encrypted with S3-managed keys (SSE-S3), not KMS: every reader (worker, Batch job, ECS
 * task) would otherwise also need `kms:Decrypt`/`kms:GenerateDataKey` grants, and each object read or
 * written would be a billed KMS request. SSE-S3 is AES-256 at rest with no key to manage; switch to
 * `BucketEncryption.KMS` with `bucketKeyEnabled` if your compliance needs a customer-managed key.
 * Both buckets are kept when the stack is deleted (`RemovalPolicy.RETAIN`, the default).
 */
export class PipelineStorage extends Construct {
  /** Where producers upload files; versioned, so each notification names an exact object version. */
  readonly inputBucket: s3.Bucket;
  /** Where processors write outputs (`outputs/…`) and the worker writes failure reports. */
  readonly outputBucket: s3.Bucket;
  /** Server access logs of both buckets. */
  readonly accessLogsBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: PipelineStorageProps) {
    super(scope, id);
    const secure = {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    } as const;
    // A multipart upload that never completes (a processor killed mid-write) is invisible but billed.
    const abortUploads: s3.LifecycleRule = {
      id: 'abort-incomplete-multipart-uploads',
      abortIncompleteMultipartUploadAfter: Duration.days(1),
    };

    // The access-log bucket cannot log into itself (cdk-nag's S1 exempts log destinations).
    this.accessLogsBucket = new s3.Bucket(this, 'AccessLogs', {
      ...secure,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(90) }],
    });
    skipCheckov(this.accessLogsBucket, {
      CKV_AWS_18: 'The server access log bucket itself: logging its own writes into itself would loop.',
      CKV_AWS_21:
        'Log objects are written once, by the S3 logging service only, and expire after 90 days: versions would only duplicate them.',
    });
    this.inputBucket = new s3.Bucket(this, 'Input', {
      ...secure,
      versioned: true,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'input/',
      lifecycleRules: [
        abortUploads,
        // Workflows read the exact notified version; older versions are only kept for recovery.
        { id: 'expire-noncurrent-versions', noncurrentVersionExpiration: Duration.days(30) },
      ],
    });

    this.outputBucket = new s3.Bucket(this, 'Output', {
      ...secure,
      serverAccessLogsBucket: this.accessLogsBucket,
      serverAccessLogsPrefix: 'output/',
      lifecycleRules: [
        abortUploads,
        {
          id: 'archive-outputs',
          transitions: [
            {
              storageClass: s3.StorageClass.GLACIER,
              transitionAfter: Duration.days(props.outputArchiveAfterDays ?? 30),
            },
          ],
        },
        { id: 'expire-staging', prefix: STAGING_PREFIX, expiration: Duration.days(1) },
      ],
    });
    skipCheckov(this.outputBucket, {
      CKV_AWS_21:
        'Outputs are derived data, rebuilt deterministically from the versioned and retained input, and no role of the pipeline may delete them (test/proof/permissions.test.ts); versioning would keep a noncurrent copy of every rerun, metadata self-copy and staging part.',
    });

    // The data buckets outlive the stack (RETAIN) and no one may delete them, whatever their role allows:
    // deleting one takes removing this statement first, which a person does on purpose.
    for (const bucket of [this.inputBucket, this.outputBucket]) {
      bucket.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: 'DenyDeleteBucket',
          effect: iam.Effect.DENY,
          principals: [new iam.AnyPrincipal()],
          actions: ['s3:DeleteBucket'],
          resources: [bucket.bucketArn],
        }),
      );
    }

    // Every object created in the input bucket is one SQS message; the ingress turns it into a workflow.
    this.inputBucket.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.SqsDestination(props.notificationQueue),
    );
  }
}

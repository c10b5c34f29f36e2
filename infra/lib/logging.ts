/**
 * Every log group of the stack: kept for a fixed time, retained when the stack is deleted, and encrypted with
 * one customer-managed key that only CloudWatch Logs may use, for this account's log groups. The processes
 * that write logs need no KMS permission: CloudWatch Logs encrypts on their behalf.
 */
import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { accountArn } from './arns';

/** Props of {@link PipelineLogs}. */
export interface PipelineLogsProps {
  /** How long every log group keeps its events. */
  readonly retention: logs.RetentionDays;
}

/** Makes the stack's log groups, all alike. */
export class PipelineLogs extends Construct {
  /** Encrypts every log group; retained with them, so that the kept logs stay readable. */
  readonly key: kms.Key;
  private readonly retention: logs.RetentionDays;

  constructor(scope: Construct, id: string, props: PipelineLogsProps) {
    super(scope, id);
    this.retention = props.retention;
    const { region } = Stack.of(this);
    this.key = new kms.Key(this, 'Key', {
      description: 'Encrypts the file pipeline log groups',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // CloudWatch Logs' documented key policy: the regional service, for log groups of this account only.
    this.key.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'CloudWatchLogsEncryptThisAccountsLogGroups',
        principals: [new iam.ServicePrincipal(`logs.${region}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': accountArn(this, 'logs', 'log-group:*'),
          },
        },
      }),
    );
  }

  /** A new log group in `scope`. */
  logGroup(scope: Construct, id: string): logs.LogGroup {
    return new logs.LogGroup(scope, id, {
      retention: this.retention,
      encryptionKey: this.key,
      removalPolicy: RemovalPolicy.RETAIN,
    });
  }
}

/** The notification queue and its dead-letter queue. */
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { DEFAULTS } from '../../contract/defaults';
import { skipCheckov } from './checks';

/** Receives after which SQS moves a message to the dead-letter queue (the README's contract). */
export const MAX_RECEIVE_COUNT = 5;

/** Props of {@link PipelineQueue}. */
export interface PipelineQueueProps {
  /**
   * How long a received message stays invisible before SQS redelivers it. The ingress long-polls for
   * 20 s and hands each message over at once; the workflow then extends the visibility itself every
   * third of `VISIBILITY_TIMEOUT_SECONDS`, so this only bounds how soon a message the ingress lost (a
   * crash between receive and hand-over) comes back.
   * @default - `VISIBILITY_TIMEOUT_SECONDS`'s default, 5 minutes
   */
  readonly visibilityTimeout?: Duration;
}

/**
 * Both queues use SQS-managed encryption (SSE-SQS): S3 can publish to it without a KMS key policy, and the
 * worker and ingress need no KMS grants.
 */
export class PipelineQueue extends Construct {
  /** The input bucket's ObjectCreated notifications. */
  readonly queue: sqs.Queue;
  /** Messages that failed permanently (moved by the workflow, with the reason) or were received 5 times. */
  readonly deadLetterQueue: sqs.Queue;

  constructor(scope: Construct, id: string, props: PipelineQueueProps = {}) {
    super(scope, id);
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // The longest SQS allows: a dead letter waits for a person. SQS keeps a message's first enqueue
      // time when it moves it here, so this must exceed the source queue's retention.
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout ?? Duration.seconds(DEFAULTS.visibilityTimeoutSeconds),
      receiveMessageWaitTime: Duration.seconds(20),
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    for (const queue of [this.queue, this.deadLetterQueue]) {
      skipCheckov(queue, {
        CKV_AWS_27:
          'Encrypted at rest with SSE-SQS (SqsManagedSseEnabled), which this check does not recognise: a KMS key would need grants for S3 notifications, the ingress and the worker, and a billed KMS request per message.',
      });
    }
  }
}

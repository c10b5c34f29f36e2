/**
 * Dead letters: the queue SQS redrives a notification queue to, and the message the pipeline itself moves
 * there, the original body with its reason as message attributes. The workflow's queue activities and the
 * ingress both move messages, so every dead letter carries the same attributes whoever moved it.
 */
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type SendMessageCommandInput,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { ExplainedError } from '../contract/failures';
import { printable } from './text';

/** Message attributes carried to the dead-letter queue, so the reason travels with the message. */
export const DLQ_ATTRIBUTES = {
  reason: 'failure-reason',
  type: 'failure-type',
  /** The workflow that gave up on the file; absent when the ingress moved the message before any workflow. */
  workflowId: 'workflow-id',
  sourceQueue: 'source-queue',
} as const;

/** A queue's redrive policy: where SQS moves a message, and after how many receives. */
export interface Redrive {
  deadLetterQueueUrl: string;
  maxReceiveCount: number;
}

/** Why a message leaves its queue for the dead-letter queue. */
export interface DeadLetterReason {
  /** A failure type, such as `InvalidInput` or `UnusableMessage`. */
  type: string;
  message: string;
}

/** What one dead letter says. */
export interface DeadLetter {
  /** The message as it arrived, so that it can be sent back once the cause is fixed. */
  body: string;
  reason: DeadLetterReason;
  /** The queue it came from. */
  sourceQueue: string;
  workflowId?: string;
}

/** SQS's limit on a message attribute is the message's; the reason is cut well below it. */
const MAX_REASON_CHARS = 4096;

/** The redrive policy of `queueUrl`, or undefined when it has none. */
export async function readRedrivePolicy(sqs: SQSClient, queueUrl: string): Promise<Redrive | undefined> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['RedrivePolicy'] }),
  );
  if (!Attributes?.RedrivePolicy) return undefined;
  const policy = JSON.parse(Attributes.RedrivePolicy) as {
    deadLetterTargetArn: string;
    maxReceiveCount: number;
  };
  const name = policy.deadLetterTargetArn.split(':').pop()!;
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  return { deadLetterQueueUrl: QueueUrl!, maxReceiveCount: Number(policy.maxReceiveCount) };
}

/** The error for a queue without a redrive policy, naming the fix. */
export function noRedrivePolicy(queueUrl: string): ExplainedError {
  return new ExplainedError(
    `queue ${queueUrl} has no redrive policy: give it a dead-letter queue (maxReceiveCount 5)`,
  );
}

/**
 * The SendMessage input that puts `letter` into `deadLetterQueueUrl`. The reason is made printable: it may
 * quote a key or a body, whose control characters SQS refuses in attributes and people should not see raw.
 */
export function deadLetterRequest(deadLetterQueueUrl: string, letter: DeadLetter): SendMessageCommandInput {
  const text = (value: string) => ({ DataType: 'String', StringValue: value });
  return {
    QueueUrl: deadLetterQueueUrl,
    MessageBody: letter.body,
    MessageAttributes: {
      [DLQ_ATTRIBUTES.reason]: text(printable(letter.reason.message).slice(0, MAX_REASON_CHARS)),
      [DLQ_ATTRIBUTES.type]: text(letter.reason.type),
      [DLQ_ATTRIBUTES.sourceQueue]: text(letter.sourceQueue),
      ...(letter.workflowId ? { [DLQ_ATTRIBUTES.workflowId]: text(letter.workflowId) } : {}),
    },
  };
}

/**
 * SQS activities. Only the workflow acknowledges a message, and only through these: keep it invisible
 * while working, delete it once the output is verified, move it to the dead-letter queue on a permanent
 * failure, release it for redelivery on a transient one.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  SendMessageCommand,
  type BatchResultErrorEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { activityInfo } from '@temporalio/activity';
import {
  deadLetterRequest,
  noRedrivePolicy,
  readRedrivePolicy,
  type DeadLetterReason,
  type Redrive,
} from '../common/dead-letters';
import type { QueueMessage } from '../contract/workflow';

export interface QueueDeps {
  sqs: SQSClient;
}

function byQueue(messages: readonly QueueMessage[]): Map<string, QueueMessage[]> {
  const groups = new Map<string, QueueMessage[]>();
  for (const m of messages) groups.set(m.queueUrl, [...(groups.get(m.queueUrl) ?? []), m]);
  return groups;
}

/** Batch entry ids must be short and unique within a batch. */
const entryId = (i: number) => `m${i}`;

export function createQueueActivities({ sqs }: QueueDeps) {
  const redrives = new Map<string, Promise<Redrive | undefined>>();

  /** The queue's redrive policy (dead-letter queue and receive limit), read once per queue. */
  function redriveOf(queueUrl: string): Promise<Redrive | undefined> {
    let found = redrives.get(queueUrl);
    if (!found) {
      found = readRedrivePolicy(sqs, queueUrl);
      found.catch(() => redrives.delete(queueUrl));
      redrives.set(queueUrl, found);
    }
    return found;
  }

  /**
   * One SQS batch call per queue and per 10 messages. Failures the sender caused are ignored: they mean a
   * message is already gone (a duplicate acknowledged elsewhere), or its handle is stale, in which case it is
   * redelivered and the ingress deletes it as already processed.
   */
  async function perBatch(
    messages: readonly QueueMessage[],
    what: string,
    call: (queueUrl: string, batch: QueueMessage[]) => Promise<{ Failed?: BatchResultErrorEntry[] }>,
  ): Promise<void> {
    for (const [queueUrl, group] of byQueue(messages)) {
      for (let i = 0; i < group.length; i += 10) {
        const out = await call(queueUrl, group.slice(i, i + 10));
        const failed = (out.Failed ?? []).filter((f) => f.SenderFault !== true);
        if (failed.length > 0) throw new Error(`${what} failed on ${queueUrl}: ${JSON.stringify(failed)}`);
      }
    }
  }

  const changeVisibility = (messages: readonly QueueMessage[], seconds: number) =>
    perBatch(messages, 'ChangeMessageVisibility', (queueUrl, batch) =>
      sqs.send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((m, j) => ({
            Id: entryId(j),
            ReceiptHandle: m.receiptHandle,
            VisibilityTimeout: seconds,
          })),
        }),
      ),
    );

  const deleteMessages = (messages: readonly QueueMessage[]) =>
    perBatch(messages, 'DeleteMessage', (queueUrl, batch) =>
      sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: batch.map((m, j) => ({ Id: entryId(j), ReceiptHandle: m.receiptHandle })),
        }),
      ),
    );

  async function deadLetter(messages: readonly QueueMessage[], reason: DeadLetterReason): Promise<void> {
    for (const m of messages) {
      const redrive = await redriveOf(m.queueUrl);
      if (!redrive) throw noRedrivePolicy(m.queueUrl);
      const workflowId = activityInfo().workflowExecution?.workflowId;
      await sqs.send(
        new SendMessageCommand(
          deadLetterRequest(redrive.deadLetterQueueUrl, {
            body: m.body,
            reason,
            sourceQueue: m.queueUrl,
            ...(workflowId ? { workflowId } : {}),
          }),
        ),
      );
      await deleteMessages([m]);
    }
  }

  return {
    /** Keeps the messages invisible for `seconds` more, so a long run is not redelivered. */
    async extendVisibility(messages: QueueMessage[], seconds: number): Promise<void> {
      await changeVisibility(messages, seconds);
    },

    /** Deletes the messages: the output is verified. */
    async acknowledge(messages: QueueMessage[]): Promise<void> {
      await deleteMessages(messages);
    },

    /** Permanent failure: the message moves to the dead-letter queue with the reason as attributes. */
    async moveToDeadLetter(messages: QueueMessage[], reason: DeadLetterReason): Promise<void> {
      await deadLetter(messages, reason);
    },

    /**
     * Transient failure that outlived its retries: the message becomes visible again so SQS redelivers
     * it, unless it has used its receives, in which case it goes to the dead-letter queue with the reason
     * (SQS would move it there on the next receive, but without saying why).
     */
    async release(messages: QueueMessage[], reason: DeadLetterReason): Promise<void> {
      for (const m of messages) {
        const redrive = await redriveOf(m.queueUrl);
        if (redrive && m.receiveCount >= redrive.maxReceiveCount) await deadLetter([m], reason);
        else await changeVisibility([m], 0);
      }
    },
  };
}

/**
 * The console's dead letters: the dead-letter queue's depth and its messages peeked, with the failure they carry
 * (common/dead-letters.ts), sent back to the source queue, or one deleted for good.
 *
 * Sending back uses SQS's own message move task where the endpoint has it (AWS); where it does not (moto), the
 * console moves the messages itself by receive-send-delete. Which one is found out by asking, once per process,
 * not configured.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DLQ_ATTRIBUTES, noRedrivePolicy, readRedrivePolicy } from '../common/dead-letters';
import { parseMessageBody } from '../common/notifications';

/** The queues the page works on. */
export interface DeadLetterQueues {
  sqs: SQSClient;
  /** The source queue, where "Send back" puts the messages. */
  queueUrl: string;
  /** The source queue's dead-letter queue, the target of its redrive policy. */
  deadLetterQueueUrl: string;
}

/** The queues of `queueUrl`: its dead-letter queue from its redrive policy, as the ingress finds it. */
export async function deadLetterQueuesOf(sqs: SQSClient, queueUrl: string): Promise<DeadLetterQueues> {
  const redrive = await readRedrivePolicy(sqs, queueUrl);
  if (!redrive) throw noRedrivePolicy(queueUrl);
  return { sqs, queueUrl, deadLetterQueueUrl: redrive.deadLetterQueueUrl };
}

/** One dead letter as the page shows it. */
export interface DeadLetterRow {
  messageId: string;
  /** The objects it notifies, `s3://bucket/key`, as the ingress reads the body. */
  objects: string[];
  /** When it names no object: what the ingress makes of the body. */
  bodyNote?: string;
  failureType?: string;
  reason?: string;
  workflowId?: string;
  /** Receives of this message, peeks included. */
  receiveCount: number;
  firstReceived?: Date;
  /** When it was sent to the dead-letter queue. */
  sent?: Date;
}

/** SQS's message move task as ListMessageMoveTasks tells it: the latest one of the dead-letter queue. */
export interface MoveTaskStatus {
  status: string;
  moved: number;
  toMove?: number;
  started?: Date;
  failureReason?: string;
}

export interface DeadLettersView {
  /** Messages waiting (ApproximateNumberOfMessages). */
  depth: number;
  /** Messages received by someone and not yet deleted or visible again. */
  inFlight: number;
  letters: DeadLetterRow[];
  /** Whether the endpoint has SQS's message move task: undefined until known. */
  moveTask: { supported: false } | { supported: true; latest?: MoveTaskStatus } | undefined;
}

/** What "Send back" did. */
export type SendBackOutcome =
  | { method: 'move-task'; taskHandle: string }
  | { method: 'receive-send-delete'; moved: number; left: number };

/** At most this many messages are peeked, 10 per receive. */
export const PEEK_MAX = 50;
/** A peeked message is hidden this long at most: the peek makes it visible again as soon as it is read. */
const PEEK_HIDE_SECONDS = 10;
/** A delete looks for its message among this many receives of 10 before saying it is not there. */
const FIND_RECEIVES = 10;
/** Received messages stay hidden this long while they are being sent back or looked through. */
const MOVE_HIDE_SECONDS = 60;
/** One "Send back" by receive-send-delete moves at most this many messages. */
const MOVE_MAX = 1000;

/**
 * Whether `err` says the endpoint lacks the operation: AWS's own words for that, or moto's answer to an action
 * it has not implemented, a 500 HTML page the SDK cannot read as an AWS error (AWS never answers so).
 */
export function isUnsupportedOperation(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { name?: string; $fault?: string; $metadata?: { httpStatusCode?: number } };
  const names = ['UnsupportedOperation', 'InvalidAction', 'UnknownOperationException', 'NotImplemented'];
  if (e.name && names.some((n) => e.name!.endsWith(n))) return true;
  const status = e.$metadata?.httpStatusCode;
  return status === 501 || (status === 500 && e.$fault === undefined);
}

const attribute = (m: Message, name: string) => m.MessageAttributes?.[name]?.StringValue;
const time = (ms: string | undefined) => (ms ? new Date(Number(ms)) : undefined);

/** What the page shows of `m`. */
export function rowOf(m: Message): DeadLetterRow {
  const parsed = parseMessageBody(m.Body);
  const type = attribute(m, DLQ_ATTRIBUTES.type);
  const reason = attribute(m, DLQ_ATTRIBUTES.reason);
  const workflowId = attribute(m, DLQ_ATTRIBUTES.workflowId);
  const firstReceived = time(m.Attributes?.ApproximateFirstReceiveTimestamp);
  const sent = time(m.Attributes?.SentTimestamp);
  return {
    messageId: m.MessageId!,
    objects: parsed.kind === 'objects' ? parsed.objects.map((o) => `s3://${o.ref.bucket}/${o.ref.key}`) : [],
    ...(parsed.kind === 'objects' ? {} : { bodyNote: parsed.reason }),
    ...(type ? { failureType: type } : {}),
    ...(reason ? { reason } : {}),
    ...(workflowId ? { workflowId } : {}),
    receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
    ...(firstReceived ? { firstReceived } : {}),
    ...(sent ? { sent } : {}),
  };
}

async function receive(q: DeadLetterQueues, hideSeconds: number): Promise<Message[]> {
  const out = await q.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: q.deadLetterQueueUrl,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 0,
      VisibilityTimeout: hideSeconds,
      MessageAttributeNames: ['All'],
      MessageSystemAttributeNames: ['All'],
    }),
  );
  return out.Messages ?? [];
}

/** Makes `messages` visible again at once. Best effort: each is visible again at its timeout anyway. */
async function release(q: DeadLetterQueues, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    await q.sqs
      .send(
        new ChangeMessageVisibilityBatchCommand({
          QueueUrl: q.deadLetterQueueUrl,
          Entries: messages.slice(i, i + 10).map((m, j) => ({
            Id: `m${i + j}`,
            ReceiptHandle: m.ReceiptHandle!,
            VisibilityTimeout: 0,
          })),
        }),
      )
      .catch(() => undefined);
  }
}

/** The dead-letter queue's depth and messages in flight. */
async function depthOf(q: DeadLetterQueues): Promise<{ depth: number; inFlight: number }> {
  const { Attributes } = await q.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: q.deadLetterQueueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return {
    depth: Number(Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

async function arnOf(q: DeadLetterQueues, url: string): Promise<string> {
  const { Attributes } = await q.sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
  );
  return Attributes!.QueueArn!;
}

/** Message attributes as SendMessage takes them back (ReceiveMessage adds empty list fields). */
function sendable(
  attributes: Record<string, MessageAttributeValue> | undefined,
): Record<string, MessageAttributeValue> | undefined {
  if (!attributes || Object.keys(attributes).length === 0) return undefined;
  return Object.fromEntries(
    Object.entries(attributes).map(([name, v]) => [
      name,
      {
        DataType: v.DataType!,
        ...(v.StringValue !== undefined ? { StringValue: v.StringValue } : {}),
        ...(v.BinaryValue !== undefined ? { BinaryValue: v.BinaryValue } : {}),
      },
    ]),
  );
}

/**
 * The console's dead-letter operations on `q`. Whether the endpoint has the message move task is remembered
 * once an answer says so either way.
 */
export function deadLetters(q: DeadLetterQueues) {
  const capability = { start: undefined as boolean | undefined, list: undefined as boolean | undefined };

  /** The latest move task of the dead-letter queue; undefined while the endpoint's capability is unknown. */
  async function moveTaskStatus(): Promise<DeadLettersView['moveTask']> {
    if (capability.list === false || capability.start === false) return { supported: false };
    try {
      const { Results } = await q.sqs.send(
        new ListMessageMoveTasksCommand({ SourceArn: await arnOf(q, q.deadLetterQueueUrl), MaxResults: 1 }),
      );
      capability.list = true;
      const [t] = Results ?? [];
      return {
        supported: true,
        ...(t
          ? {
              latest: {
                status: t.Status ?? 'unknown',
                moved: t.ApproximateNumberOfMessagesMoved ?? 0,
                ...(t.ApproximateNumberOfMessagesToMove !== undefined
                  ? { toMove: t.ApproximateNumberOfMessagesToMove }
                  : {}),
                ...(t.StartedTimestamp ? { started: new Date(t.StartedTimestamp) } : {}),
                ...(t.FailureReason ? { failureReason: t.FailureReason } : {}),
              },
            }
          : {}),
      };
    } catch (err) {
      if (!isUnsupportedOperation(err)) throw err;
      capability.list = false;
      return { supported: false };
    }
  }

  /**
   * Moves the messages that were in the dead-letter queue when it began to the source queue, a batch at a
   * time: each is sent, then deleted from the dead-letter queue only once the send succeeded, so that nothing
   * is ever deleted unsent. A crash between the send and the delete leaves the message in both queues: the
   * notification is then handled twice, which the workflow ID (one per object version) absorbs. A message that
   * arrived after the start (one sent back that failed again) is left where it is: it is not moved in circles.
   */
  async function receiveSendDelete(): Promise<{ moved: number; left: number }> {
    const startedAt = Date.now();
    /** Received, not moved: made visible again at the end. */
    const kept: Message[] = [];
    let moved = 0;
    try {
      for (let receives = 0; moved < MOVE_MAX && receives < MOVE_MAX / 10; receives++) {
        const batch = await receive(q, MOVE_HIDE_SECONDS);
        if (batch.length === 0) break;
        const older = batch.filter((m) => Number(m.Attributes?.SentTimestamp ?? 0) < startedAt);
        kept.push(...batch.filter((m) => !older.includes(m)));
        for (const [i, m] of older.entries()) {
          try {
            await q.sqs.send(
              new SendMessageCommand({
                QueueUrl: q.queueUrl,
                MessageBody: m.Body!,
                MessageAttributes: sendable(m.MessageAttributes),
              }),
            );
          } catch (err) {
            kept.push(...older.slice(i));
            throw err;
          }
          // Deleted only now that it is in the source queue. Should this fail or the console stop here, the
          // message is in both queues: a duplicate notification, absorbed by the workflow ID.
          await q.sqs.send(
            new DeleteMessageCommand({ QueueUrl: q.deadLetterQueueUrl, ReceiptHandle: m.ReceiptHandle! }),
          );
          moved++;
        }
      }
    } finally {
      await release(q, kept);
    }
    return { moved, left: kept.length };
  }

  return {
    /** The depth and up to {@link PEEK_MAX} messages, each hidden a moment while it is read. */
    async view(): Promise<DeadLettersView> {
      const { depth, inFlight } = await depthOf(q);
      const seen = new Map<string, Message>();
      try {
        while (seen.size < PEEK_MAX) {
          const batch = (await receive(q, PEEK_HIDE_SECONDS)).filter((m) => !seen.has(m.MessageId!));
          if (batch.length === 0) break;
          for (const m of batch) seen.set(m.MessageId!, m);
        }
      } finally {
        await release(q, [...seen.values()]);
      }
      const letters = [...seen.values()]
        .map(rowOf)
        .sort((a, b) => (a.sent?.getTime() ?? 0) - (b.sent?.getTime() ?? 0));
      return { depth, inFlight, letters, moveTask: await moveTaskStatus() };
    },

    /** Sends every dead letter back to the source queue: SQS's move task, else receive-send-delete. */
    async sendBack(): Promise<SendBackOutcome> {
      if (capability.start !== false) {
        try {
          const { TaskHandle } = await q.sqs.send(
            new StartMessageMoveTaskCommand({
              SourceArn: await arnOf(q, q.deadLetterQueueUrl),
              DestinationArn: await arnOf(q, q.queueUrl),
            }),
          );
          capability.start = true;
          return { method: 'move-task', taskHandle: TaskHandle ?? '' };
        } catch (err) {
          if (!isUnsupportedOperation(err)) throw err;
          capability.start = false;
        }
      }
      return { method: 'receive-send-delete', ...(await receiveSendDelete()) };
    },

    /**
     * Deletes the message `messageId`. A delete needs a receipt handle, so the message is received again, among
     * at most {@link FIND_RECEIVES} receives; the others are made visible again at once. False when it was not
     * found: gone already, or held by someone else (in flight) until its visibility timeout.
     */
    async remove(messageId: string): Promise<boolean> {
      const looked: Message[] = [];
      try {
        for (let i = 0; i < FIND_RECEIVES; i++) {
          const batch = await receive(q, MOVE_HIDE_SECONDS);
          if (batch.length === 0) return false;
          const found = batch.find((m) => m.MessageId === messageId);
          looked.push(...batch.filter((m) => m !== found));
          if (found) {
            await q.sqs.send(
              new DeleteMessageCommand({
                QueueUrl: q.deadLetterQueueUrl,
                ReceiptHandle: found.ReceiptHandle!,
              }),
            );
            return true;
          }
        }
        return false;
      } finally {
        await release(q, looked);
      }
    },
  };
}

export type DeadLetters = ReturnType<typeof deadLetters>;

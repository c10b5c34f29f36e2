/**
 * The SQS → Temporal bridge. Stateless: it long-polls the queue and, for each notified object version,
 * signal-with-starts its `processFile` workflow. It never deletes a message it hands over; the workflow
 * does, once the output is verified.
 */
import {
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { workflowIdFor } from '../common/ids';
import type { Logger } from '../common/log';
import { messageReceivedSignal, SA, type ObjectRef, type ProcessFileOptions } from '../workflows/definitions';
import { processFile } from '../workflows/process-file';
import { parseMessageBody } from './parse';

export interface IngressOptions {
  sqs: SQSClient;
  client: Client;
  queueUrl: string;
  taskQueue: string;
  /** Long-poll wait, 0-20 s. */
  waitSeconds: number;
  /** Messages per receive, 1-10. */
  maxMessages: number;
  workflowOptions: ProcessFileOptions;
  log: Logger;
}

/** What became of one message; logged, and returned for tests. */
export type Outcome = 'handed-over' | 'already-processed' | 'ignored' | 'split' | 'invalid' | 'error';

const MAX_BACKOFF_MS = 30_000;

/** Logged once the ingress polls: the stack launcher's readiness signal. */
export const INGRESS_READY_MESSAGE = 'polling';

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

export function createIngress(o: IngressOptions) {
  const deleteMessage = (m: Message) =>
    o.sqs.send(new DeleteMessageCommand({ QueueUrl: o.queueUrl, ReceiptHandle: m.ReceiptHandle }));

  async function startWorkflow(ref: ObjectRef, m: Message, body: string): Promise<Outcome> {
    const workflowId = workflowIdFor(ref);
    try {
      await o.client.workflow.signalWithStart(processFile, {
        workflowId,
        taskQueue: o.taskQueue,
        args: [{ object: ref, options: o.workflowOptions }],
        signal: messageReceivedSignal,
        signalArgs: [
          {
            queueUrl: o.queueUrl,
            messageId: m.MessageId!,
            receiptHandle: m.ReceiptHandle!,
            receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 1),
            body,
          },
        ],
        // A failed run may be redone by a redelivery; a successful one never is.
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        typedSearchAttributes: [
          { key: SA.bucket, value: ref.bucket },
          { key: SA.objectKey, value: ref.key },
          { key: SA.stage, value: 'received' },
        ],
      });
      o.log.info('handed over to the workflow', { workflowId, messageId: m.MessageId });
      return 'handed-over';
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      await deleteMessage(m);
      o.log.info('already processed: message deleted', { workflowId, messageId: m.MessageId });
      return 'already-processed';
    }
  }

  /** Handles one message; never throws (a failure leaves the message for redelivery). */
  async function handle(m: Message): Promise<Outcome> {
    const parsed = parseMessageBody(m.Body);
    const receiveCount = m.Attributes?.ApproximateReceiveCount;
    try {
      switch (parsed.kind) {
        case 'invalid':
          o.log.warn(`unusable message left for the dead-letter queue: ${parsed.reason}`, {
            messageId: m.MessageId,
            receiveCount,
          });
          return 'invalid';
        case 'ignore':
          await deleteMessage(m);
          o.log.info(`ignored and deleted: ${parsed.reason}`, { messageId: m.MessageId });
          return 'ignored';
        case 'objects': {
          const [only, ...more] = parsed.objects;
          if (only && more.length === 0) return await startWorkflow(only.ref, m, only.body);
          // One message per object, so each workflow owns and acknowledges its own message.
          for (let i = 0; i < parsed.objects.length; i += 10) {
            const out = await o.sqs.send(
              new SendMessageBatchCommand({
                QueueUrl: o.queueUrl,
                Entries: parsed.objects
                  .slice(i, i + 10)
                  .map((obj, j) => ({ Id: `r${i + j}`, MessageBody: obj.body })),
              }),
            );
            if (out.Failed?.length)
              throw new Error(`re-publishing records failed: ${JSON.stringify(out.Failed)}`);
          }
          await deleteMessage(m);
          o.log.info(`split a notification of ${parsed.objects.length} objects into one message each`, {
            messageId: m.MessageId,
          });
          return 'split';
        }
      }
    } catch (err) {
      o.log.error('message not handed over, it will be redelivered', { messageId: m.MessageId, error: err });
      return 'error';
    }
  }

  return {
    handle,

    /** Polls until `signal` aborts, then finishes the messages in hand and resolves. */
    async run(signal: AbortSignal): Promise<void> {
      let backoffMs = 1000;
      o.log.info(INGRESS_READY_MESSAGE, { queueUrl: o.queueUrl, taskQueue: o.taskQueue });
      while (!signal.aborted) {
        let messages: Message[];
        try {
          const out = await o.sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: o.queueUrl,
              WaitTimeSeconds: o.waitSeconds,
              MaxNumberOfMessages: o.maxMessages,
              MessageSystemAttributeNames: ['ApproximateReceiveCount'],
            }),
            { abortSignal: signal },
          );
          messages = out.Messages ?? [];
          backoffMs = 1000;
        } catch (err) {
          if (signal.aborted) break;
          o.log.error(`cannot receive from ${o.queueUrl}; retrying in ${backoffMs / 1000}s`, { error: err });
          await sleep(backoffMs, signal);
          backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
          continue;
        }
        await Promise.all(messages.map(handle));
      }
      o.log.info('stopped polling');
    },
  };
}

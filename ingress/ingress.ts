/**
 * The SQS → Temporal bridge. Stateless: it long-polls the queue and, for each notified object version of an
 * input bucket, signal-with-starts its `processFile` workflow, receiving again while earlier hand-overs are
 * under way. It never deletes a message it hands over; the
 * workflow does, once the output is verified. A message it can never hand over (an unusable body, another
 * bucket's object) goes to the dead-letter queue at once, with its reason, instead of waiting out its receives.
 *
 * While Temporal cannot take hand-overs (unreachable, timing out, throttling, refusing the credentials) the
 * ingress stops receiving: every receive counts towards a message's maxReceiveCount, and receiving during an
 * outage would turn each file notified meanwhile into a dead letter. The messages in hand go back to the queue
 * as soon as no receive is under way that could take them again, so an outage costs a message at most one
 * receive. The ingress probes Temporal with a bounded
 * backoff and resumes by itself.
 */
import { context, trace } from '@opentelemetry/api';
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  type Message,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { isGrpcServiceError, WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import { deadLetterRequest, type DeadLetterReason } from '../common/dead-letters';
import { workflowIdFor } from '../common/ids';
import type { Logger } from '../common/log';
import { inSpan, TRACER_NAME } from '../common/tracing';
import { fileStartOptions, messageReceivedSignal, type ProcessFileOptions } from '../contract/workflow';
import { FailureType } from '../contract/failures';
import { DEFAULTS } from '../contract/defaults';
import type { ObjectRef } from '../contract/objects';
import { processFile } from '../workflows/process-file';
import { parseMessageBody, type NotifiedObject } from '../common/notifications';

export interface IngressOptions {
  sqs: SQSClient;
  client: Client;
  queueUrl: string;
  /** The queue's dead-letter queue, the target of its redrive policy. */
  deadLetterQueueUrl: string;
  /** Buckets whose notifications are handed over; another bucket's go to the dead-letter queue. */
  inputBuckets: readonly string[];
  taskQueue: string;
  /** Long-poll wait, 0-20 s. */
  waitSeconds: number;
  /** Messages per receive, 1-10. */
  maxMessages: number;
  workflowOptions: ProcessFileOptions;
  log: Logger;
}

/** What became of one message. */
type Outcome = 'handed-over' | 'already-processed' | 'ignored' | 'split' | 'dead-lettered' | 'held' | 'error';

/** Logged once the ingress polls: the stack launcher's readiness signal. */
export const INGRESS_READY_MESSAGE = 'polling';
/** Logged when the ingress stops receiving because Temporal cannot take hand-overs, and when it resumes. */
export const OUTAGE_MESSAGE = 'Temporal cannot take hand-overs: stopped receiving';
export const RECOVERED_MESSAGE = 'Temporal takes hand-overs again: receiving';

/** A hand-over takes milliseconds; one that takes longer is given up and its message sent back. */
const HAND_OVER_TIMEOUT_MS = 10_000;
/**
 * Hand-overs in flight at once. The ingress receives again while earlier messages are being handed over, so
 * that a burst is not paced by the slowest of each ten; this bounds what it holds.
 */
const HAND_OVERS_IN_FLIGHT = 50;
/**
 * A hand-over under way for this long says Temporal is slow or gone: the ingress takes no more messages until
 * what it holds is settled, as each would only wait too, and count a receive.
 */
const STALLED_HAND_OVER_MS = 1_000;
const PROBE_TIMEOUT_MS = 5_000;
/** Probes of Temporal during an outage: after 1 s, doubling up to 15 s, each ±20 % so that ingresses spread. */
const PROBE_FIRST_MS = 1_000;
export const PROBE_MAX_MS = 15_000;
const RECEIVE_BACKOFF_MAX_MS = 30_000;

/**
 * gRPC status codes that say Temporal cannot take any hand-over now, whatever the message: retrying the
 * message elsewhere would only spend its receives.
 */
const OUTAGE_CODES: Record<number, string> = {
  4: 'DEADLINE_EXCEEDED',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

/** What makes Temporal unusable, when `err` (or one of its causes) is a gRPC status that says so. */
function temporalOutage(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && OUTAGE_CODES[e.code]) return `${OUTAGE_CODES[e.code]}: ${e.details}`;
  }
  return undefined;
}

/** A hand-over refused because Temporal is unusable, not because of the message. */
class TemporalOutage extends Error {
  override name = 'TemporalOutage';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}

const jittered = (ms: number) => ms * (0.8 + Math.random() * 0.4);

/** While Temporal is unusable: what was said of it, for the log of the outage. */
interface OutageState {
  reason?: string;
}

export function createIngress(o: IngressOptions) {
  const inputBuckets = new Set(o.inputBuckets);
  const outage: OutageState = {};
  return {
    /** Polls until `signal` aborts, then finishes the messages in hand and resolves. */
    run(signal: AbortSignal): Promise<void> {
      return poll(o, (m) => handle(o, inputBuckets, outage, m), outage, signal);
    },
  };
}

const deleteMessage = (o: IngressOptions, m: Message) =>
  o.sqs.send(new DeleteMessageCommand({ QueueUrl: o.queueUrl, ReceiptHandle: m.ReceiptHandle }));

const deadLetter = (o: IngressOptions, body: string, reason: DeadLetterReason) =>
  o.sqs.send(
    new SendMessageCommand(
      deadLetterRequest(o.deadLetterQueueUrl, { body, reason, sourceQueue: o.queueUrl }),
    ),
  );

/** Makes a message visible again at once: it was received, but not handed over. */
const returnToQueue = (o: IngressOptions, m: Message) =>
  o.sqs
    .send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: o.queueUrl,
        ReceiptHandle: m.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    )
    // A handle whose visibility already ran out cannot be changed: the message is visible anyway.
    .catch((err: unknown) => o.log.debug('message not returned', { messageId: m.MessageId, error: err }));

const foreignBucket = (ref: ObjectRef, inputBuckets: ReadonlySet<string>): DeadLetterReason => ({
  type: FailureType.foreignBucket,
  message:
    `s3://${ref.bucket}/${ref.key} is not in an input bucket of this pipeline (${[...inputBuckets].join(', ')}), ` +
    'so it was not processed. Point that bucket\u2019s notifications at its own pipeline, or add it to INPUT_BUCKETS.',
});

/** The hand-over of one object: signal-with-start of its workflow, with the message that notified it. */
async function startWorkflow(o: IngressOptions, ref: ObjectRef, m: Message, body: string): Promise<Outcome> {
  const workflowId = workflowIdFor(ref);
  try {
    await o.client.withDeadline(Date.now() + HAND_OVER_TIMEOUT_MS, () =>
      o.client.workflow.signalWithStart(processFile, {
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
        ...fileStartOptions(ref, `the ingress, for SQS message ${m.MessageId}`),
      }),
    );
    o.log.info('handed over to the workflow', { workflowId, messageId: m.MessageId });
    return 'handed-over';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      await deleteMessage(o, m);
      o.log.info('already processed: message deleted', { workflowId, messageId: m.MessageId });
      return 'already-processed';
    }
    const outage = temporalOutage(err);
    if (outage) throw new TemporalOutage(outage, { cause: err });
    throw err;
  }
}

/** One message per object, so that each workflow owns and acknowledges its own message. */
async function republish(o: IngressOptions, objects: readonly NotifiedObject[]): Promise<void> {
  for (let i = 0; i < objects.length; i += 10) {
    const out = await o.sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: o.queueUrl,
        Entries: objects.slice(i, i + 10).map((obj, j) => ({ Id: `r${i + j}`, MessageBody: obj.body })),
      }),
    );
    if (out.Failed?.length) throw new Error(`re-publishing records failed: ${JSON.stringify(out.Failed)}`);
  }
}

/**
 * A notification of several objects, or of another bucket's: another bucket's objects go to the dead-letter
 * queue, the input buckets' are re-published one message each, and the notification is deleted.
 */
async function split(
  o: IngressOptions,
  inputBuckets: ReadonlySet<string>,
  m: Message,
  objects: readonly NotifiedObject[],
): Promise<Outcome> {
  const messageId = m.MessageId;
  const ours = objects.filter((obj) => inputBuckets.has(obj.ref.bucket));
  for (const obj of objects.filter((x) => !ours.includes(x))) {
    const reason = foreignBucket(obj.ref, inputBuckets);
    await deadLetter(o, obj.body, reason);
    o.log.warn(`moved to the dead-letter queue: ${reason.message}`, { messageId });
  }
  await republish(o, ours);
  await deleteMessage(o, m);
  if (ours.length === 0) return 'dead-lettered';
  o.log.info(`split a notification of ${objects.length} objects into one message each`, { messageId });
  return 'split';
}

/**
 * Handles one message; never throws (a failure leaves the message for redelivery). A message that Temporal
 * could not take is `held`, and what Temporal said is noted in `outage`: the poll loop sends the message back
 * once no receive is under way that could take it again.
 */
async function handle(
  o: IngressOptions,
  inputBuckets: ReadonlySet<string>,
  outage: OutageState,
  m: Message,
): Promise<Outcome> {
  const messageId = m.MessageId;
  try {
    const parsed = parseMessageBody(m.Body);
    switch (parsed.kind) {
      case 'invalid':
        await deadLetter(o, m.Body ?? '', { type: FailureType.unusableMessage, message: parsed.reason });
        await deleteMessage(o, m);
        o.log.warn(`unusable message moved to the dead-letter queue: ${parsed.reason}`, { messageId });
        return 'dead-lettered';
      case 'ignore':
        await deleteMessage(o, m);
        o.log.info(`ignored and deleted: ${parsed.reason}`, { messageId });
        return 'ignored';
      case 'objects': {
        const [only] = parsed.objects;
        if (only && parsed.objects.length === 1 && inputBuckets.has(only.ref.bucket)) {
          // The root of the file's trace: the workflow, its activities and the processor run follow under it.
          return await inSpan(
            trace.getTracer(TRACER_NAME),
            `notification s3://${only.ref.bucket}/${only.ref.key}`,
            context.active(),
            { 'messaging.message.id': messageId ?? '' },
            () => startWorkflow(o, only.ref, m, only.body),
          );
        }
        return await split(o, inputBuckets, m, parsed.objects);
      }
    }
  } catch (err) {
    if (err instanceof TemporalOutage) {
      outage.reason ??= err.message;
      return 'held';
    }
    o.log.error('message not handed over, it will be redelivered', { messageId, error: err });
    return 'error';
  }
}

/** Resolves once Temporal answers for the namespace again (or on abort), probing with a bounded backoff. */
async function awaitTemporal(client: Client, signal: AbortSignal): Promise<void> {
  const namespace = client.options.namespace;
  for (let delay = PROBE_FIRST_MS; !signal.aborted; delay = Math.min(delay * 2, PROBE_MAX_MS)) {
    await sleep(jittered(delay), signal);
    if (signal.aborted) return;
    try {
      await client.withDeadline(Date.now() + PROBE_TIMEOUT_MS, () =>
        client.workflowService.describeNamespace({ namespace }),
      );
      return;
    } catch {
      // Still unusable: the outage was logged when it began.
    }
  }
}

/** One receive of the queue, waiting less while hand-overs are under way. */
async function receive(
  o: IngressOptions,
  handOversUnderWay: boolean,
  signal: AbortSignal,
): Promise<Message[]> {
  const out = await o.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: o.queueUrl,
      // A short poll while hand-overs are under way, so that one finding Temporal unusable stops the
      // receiving within a second.
      WaitTimeSeconds: handOversUnderWay ? Math.min(1, o.waitSeconds) : o.waitSeconds,
      MaxNumberOfMessages: o.maxMessages,
      // Invisible for one extension of its workflow, which extends it every third of that: the
      // queue's own timeout may be shorter, and the workers may take a while to run the workflow
      // (starting, or catching up after an outage), while each redelivery counts towards
      // maxReceiveCount.
      VisibilityTimeout: o.workflowOptions.visibilityTimeoutSeconds ?? DEFAULTS.visibilityTimeoutSeconds,
      MessageSystemAttributeNames: ['ApproximateReceiveCount'],
    }),
    { abortSignal: signal },
  );
  return out.Messages ?? [];
}

/**
 * The polling loop, until `signal` aborts: receives, hands each message over with `handOver` while receiving
 * again, and stops receiving while `outage` says Temporal is unusable; then finishes the messages in hand.
 */
async function poll(
  o: IngressOptions,
  handOver: (m: Message) => Promise<Outcome>,
  outage: OutageState,
  signal: AbortSignal,
): Promise<void> {
  let backoffMs = 1000;
  /** Hand-overs under way, and when each began. */
  const inFlight = new Map<Promise<void>, number>();
  const stalled = () => [...inFlight.values()].some((at) => Date.now() - at > STALLED_HAND_OVER_MS);
  /** Messages Temporal could not take, to send back after the receive under way (if any) ends. */
  const held: Message[] = [];
  const returnHeld = () => Promise.all(held.splice(0).map((m) => returnToQueue(o, m)));
  o.log.info(INGRESS_READY_MESSAGE, { queueUrl: o.queueUrl, taskQueue: o.taskQueue });
  while (!signal.aborted) {
    while (inFlight.size + o.maxMessages > HAND_OVERS_IN_FLIGHT) await Promise.race(inFlight.keys());
    if (stalled()) await Promise.all(inFlight.keys());
    if (outage.reason !== undefined) {
      // No receive is under way now: what is sent back cannot be received again until Temporal is back.
      await Promise.all(inFlight.keys());
      const since = Date.now();
      const returnedToQueue = held.length;
      await returnHeld();
      o.log.warn(OUTAGE_MESSAGE, {
        temporal: outage.reason,
        returnedToQueue,
        probeEverySecondsAtMost: PROBE_MAX_MS / 1000,
      });
      await awaitTemporal(o.client, signal);
      outage.reason = undefined;
      if (!signal.aborted) o.log.info(RECOVERED_MESSAGE, { outageSeconds: (Date.now() - since) / 1000 });
      continue;
    }
    let messages: Message[];
    try {
      messages = await receive(o, inFlight.size > 0, signal);
      backoffMs = 1000;
    } catch (err) {
      if (signal.aborted) break;
      o.log.error(`cannot receive from ${o.queueUrl}; retrying in ${backoffMs / 1000}s`, { error: err });
      await sleep(backoffMs, signal);
      backoffMs = Math.min(backoffMs * 2, RECEIVE_BACKOFF_MAX_MS);
      continue;
    }
    // Received while a hand-over found Temporal unusable: each would only fail, so back they go.
    if (outage.reason !== undefined) {
      held.push(...messages);
      continue;
    }
    for (const m of messages) {
      const handing = handOver(m).then((outcome) => {
        if (outcome === 'held') held.push(m);
        inFlight.delete(handing);
      });
      inFlight.set(handing, Date.now());
    }
  }
  await Promise.all(inFlight.keys());
  await returnHeld();
  o.log.info('stopped polling');
}

/**
 * The ingress's poll loop, against a queue and a Temporal client that the test holds: what it does while
 * hand-overs are under way. (Outages and duplicates on the real servers: outage.test.ts, pipeline.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReceiveMessageCommand, type Message, type SQSClient } from '@aws-sdk/client-sqs';
import type { Client } from '@temporalio/client';
import { createLogger } from '../common/log';
import { createIngress } from '../ingress/ingress';
import { eventually } from './support/eventually';

const notification = (key: string) =>
  JSON.stringify({
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: 'in' }, object: { key, size: 12, eTag: 'e1', sequencer: '01' } },
      },
    ],
  });

/** A queue of `count` notifications that hands out ten per receive, and counts the receives. */
function queueOf(count: number) {
  const messages: Message[] = Array.from({ length: count }, (_, i) => ({
    MessageId: `m${i}`,
    ReceiptHandle: `h${i}`,
    Body: notification(`burst/${i}.csv`),
    Attributes: { ApproximateReceiveCount: '1' },
  }));
  const queue = {
    receives: 0,
    sqs: {
      async send(command: unknown) {
        if (!(command instanceof ReceiveMessageCommand)) throw new Error('not expected here');
        queue.receives++;
        const batch = messages.splice(0, command.input.MaxNumberOfMessages ?? 1);
        if (batch.length === 0) await new Promise((r) => setTimeout(r, 10));
        return { Messages: batch };
      },
    } as unknown as SQSClient,
  };
  return queue;
}

/** A Temporal client whose hand-overs wait until the test releases them. */
function heldClient() {
  const started: string[] = [];
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const client = {
    withDeadline: (_deadline: number, fn: () => Promise<unknown>) => fn(),
    workflow: {
      async signalWithStart(_workflow: unknown, options: { workflowId: string }) {
        started.push(options.workflowId);
        await released;
      },
    },
  } as unknown as Client;
  return { client, started, release };
}

describe('the ingress poll loop', () => {
  it('receives the next messages while earlier hand-overs are under way', async () => {
    const queue = queueOf(30);
    const temporal = heldClient();
    const ingress = createIngress({
      sqs: queue.sqs,
      client: temporal.client,
      queueUrl: 'http://sqs.local/queue',
      deadLetterQueueUrl: 'http://sqs.local/dlq',
      inputBuckets: ['in'],
      taskQueue: 'tq',
      waitSeconds: 1,
      maxMessages: 10,
      workflowOptions: {},
      log: createLogger('ingress', 'error'),
    });
    const stop = new AbortController();
    const running = ingress.run(stop.signal);
    // Not one hand-over has finished, yet all three receives' messages are being handed over.
    await eventually(
      'all the hand-overs to start',
      async () => (temporal.started.length === 30 ? true : undefined),
      10_000,
    );
    assert.ok(queue.receives >= 3, `${queue.receives} receives`);
    temporal.release();
    stop.abort();
    await running;
  });
});

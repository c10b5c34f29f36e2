/**
 * A Temporal outage on the whole local stack: the dev server stops, files keep arriving, and it comes back
 * with its data after longer than it takes SQS to dead-letter a message received maxReceiveCount times.
 * The ingress stops receiving while Temporal is gone, so nothing is lost, dead-lettered or processed twice.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { workflowIdFor } from '../common/ids';
import { OUTAGE_MESSAGE, RECOVERED_MESSAGE } from '../ingress/ingress';
import { awaitWorkflow, queueDepth, uploadFile } from '../scripts/pipeline-client';
import { STACK_NAMES, type Stack } from '../scripts/stack';
import { messageReceivedSignal, type QueueMessage } from '../contract/workflow';
import type { ObjectRef } from '../contract/objects';
import { startEndToEnd, type EndToEnd } from './support/end-to-end';

/** How soon SQS redelivers a message the ingress received but did not hand over. */
const QUEUE_VISIBILITY_SECONDS = 2;
/** Longer than a message takes to reach the dead-letter queue if it were received on every redelivery. */
const OUTAGE_MS = (STACK_NAMES.maxReceiveCount * QUEUE_VISIBILITY_SECONDS + 6) * 1000;
const WAIT_MS = 120_000;

let world: EndToEnd;
let stack: Stack;
let client: Client;
let dir: string;
let ingressLog: string[];

before(async () => {
  world = await startEndToEnd('outage-test', {
    durableTemporal: true,
    queueVisibilityTimeoutSeconds: QUEUE_VISIBILITY_SECONDS,
    env: { VISIBILITY_TIMEOUT_SECONDS: '10', HEARTBEAT_SECONDS: '1' },
  });
  ({ stack, client, dir, ingressLog } = world);
});

after(() => world?.stop());

async function upload(key: string, body: string): Promise<ObjectRef> {
  const path = join(dir, key.replaceAll('/', '_'));
  writeFileSync(path, body);
  return uploadFile(stack.aws.s3, stack.inputBucket, key, path);
}

const logged = (text: string) => ingressLog.filter((line) => line.includes(text)).length;

/** The hand-overs of a file's message, from its workflow's history: when, and its receive count then. */
async function handOvers(ref: ObjectRef): Promise<{ at: number; receiveCount: number }[]> {
  const history = await client.workflow.getHandle(workflowIdFor(ref)).fetchHistory();
  return (history.events ?? []).flatMap((event) => {
    const signal = event.workflowExecutionSignaledEventAttributes;
    if (signal?.signalName !== messageReceivedSignal.name) return [];
    const [message] = (signal.input?.payloads ?? []).map((p) =>
      defaultPayloadConverter.fromPayload<QueueMessage>(p),
    );
    const at = Number(event.eventTime?.seconds ?? 0) * 1000 + (event.eventTime?.nanos ?? 0) / 1e6;
    return message ? [{ at, receiveCount: message.receiveCount }] : [];
  });
}

describe('a Temporal outage', () => {
  it('stops the ingress receiving, then processes every file exactly once with no dead letter', async () => {
    const first = await upload('outage/before.csv', 'id,v\n1,a\n');
    assert.equal((await awaitWorkflow(client, first, WAIT_MS)).status, 'completed');

    // One file in flight when Temporal goes, the others notified while it is gone.
    const inFlight = await upload('outage/in-flight.txt', 'notified as Temporal stops\n');
    const stoppedAt = Date.now();
    await stack.stopTemporal();
    const during: ObjectRef[] = [];
    for (let i = 0; i < 4; i++) {
      during.push(await upload(`outage/during-${i}.csv`, `id,v\n${i},x\n`));
      await new Promise((r) => setTimeout(r, OUTAGE_MS / 8));
    }
    await new Promise((r) => setTimeout(r, OUTAGE_MS / 2));
    assert.equal(
      logged(OUTAGE_MESSAGE),
      1,
      `the ingress says once that it stopped:\n${ingressLog.join('\n')}`,
    );
    assert.equal(logged(RECOVERED_MESSAGE), 0);
    await stack.startTemporal();

    for (const ref of [inFlight, ...during]) {
      const outcome = await awaitWorkflow(client, ref, WAIT_MS);
      assert.equal(outcome.status, 'completed', `${ref.key}: ${JSON.stringify(outcome)}`);
      const { count } = await client.workflow.count(`WorkflowId = "${workflowIdFor(ref)}"`);
      assert.equal(count, 1, `${ref.key} has exactly one workflow run`);
      // While Temporal was away a message was received at most once, the receive in hand when the outage
      // showed: its first hand-over after it counts at most two receives more than before it.
      const all = await handOvers(ref);
      const before = Math.max(0, ...all.filter((h) => h.at < stoppedAt).map((h) => h.receiveCount));
      const after = all.find((h) => h.at >= stoppedAt);
      assert.ok(after || ref === inFlight, `${ref.key} was handed over after the outage`);
      if (after) {
        assert.ok(
          after.receiveCount <= before + 2,
          `${ref.key}: received ${after.receiveCount} times when handed over after the outage, ${before} before it:\n${ingressLog.join('\n')}`,
        );
      }
      if (outcome.status === 'completed') {
        await stack.aws.s3.send(
          new HeadObjectCommand({ Bucket: stack.outputBucket, Key: outcome.result.output!.key }),
        );
      }
    }
    assert.equal(logged(RECOVERED_MESSAGE), 1, 'the ingress says once that it resumed');
    assert.equal(await queueDepth(stack.aws.sqs, stack.queueUrl), 0, 'every message was acknowledged');
    assert.equal(await queueDepth(stack.aws.sqs, stack.deadLetterQueueUrl), 0, 'no dead letter');
  });
});

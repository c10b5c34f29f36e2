/**
 * The console's dead letters in headless Chromium against the whole local stack: a message the ingress cannot
 * use is listed with its failure, "Send back" returns it to the queue (and, garbage still, it comes back), a
 * delete asks first and removes that message alone, says so when someone else holds it, and a post from another
 * site changes nothing. Against moto, which has no SQS message move task, "Send back" is receive-send-delete.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Locator, Page } from 'playwright-core';
import { deadLetterRequest } from '../common/dead-letters';
import {
  deadLetterQueuesOf,
  deadLetters,
  isUnsupportedOperation,
  type DeadLetterQueues,
} from '../console/dead-letters';
import type { RunningConsole } from '../console/serve';
import { eventually } from './support/eventually';
import type { EndToEnd } from './support/end-to-end';
import { startConsoleInBrowser, type ConsoleInBrowser } from './support/console-browser';

/** Every message of a queue, visible or in flight: exact on moto. */
async function total(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes?.ApproximateNumberOfMessages) +
    Number(Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}

/** An S3 notification of one object of the input bucket. */
function notification(bucket: string, key: string): string {
  return JSON.stringify({
    Records: [
      {
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        s3: { bucket: { name: bucket }, object: { key, eTag: 'd41d8cd98f00b204e9800998ecf8427e', size: 0 } },
      },
    ],
  });
}

describe("the operator console's dead letters, in headless Chromium", () => {
  let e2e: EndToEnd;
  let queues: DeadLetterQueues;
  let operatorConsole: RunningConsole;
  let world: ConsoleInBrowser;
  let page: Page;
  const dlqTotal = () => total(queues.sqs, queues.deadLetterQueueUrl);
  const queueTotal = () => total(queues.sqs, queues.queueUrl);
  /** The dead-letter page's row of the message whose text has `marker`, once it is listed. */
  const rowOf = async (marker: string) => {
    const row = page.getByRole('row').filter({ hasText: marker });
    await eventually(`a dead letter with ${marker}`, async () => {
      await page.goto(`${operatorConsole.url}/dead-letters`);
      return (await row.count()) > 0 || undefined;
    });
    return row;
  };
  const messageIdOf = async (row: Locator) =>
    (await row.getByRole('link', { name: /^Delete message / }).getAttribute('aria-label'))!.replace(
      'Delete message ',
      '',
    );

  before(async () => {
    world = await startConsoleInBrowser('console-dead-letters');
    ({ e2e, operatorConsole, page } = world);
    queues = await deadLetterQueuesOf(e2e.stack.aws.sqs, e2e.stack.queueUrl);
    assert.equal(queues.deadLetterQueueUrl, e2e.stack.deadLetterQueueUrl, 'found by the redrive policy');
  });
  after(async () => {
    await world?.stop();
  });

  it('lists an unusable message with its failure; Send back returns it to the queue, and it fails again', async () => {
    const marker = randomUUID();
    await queues.sqs.send(
      new SendMessageCommand({ QueueUrl: queues.queueUrl, MessageBody: `not json ${marker}` }),
    );
    const row = await rowOf(marker);
    const text = await row.innerText();
    assert.match(text, /No object: body is not JSON/);
    assert.match(text, /UnusableMessage/);
    assert.match(text, /body is not JSON \(.*\): not json /);
    const firstId = await messageIdOf(row);
    const deadLettered = () => e2e.ingressLog.filter((line) => line.includes(marker)).length;
    assert.equal(deadLettered(), 1);
    const before = await dlqTotal();
    assert.equal(await queueTotal(), 0);

    await page.getByRole('button', { name: /^Send back to / }).click();
    const notice = await page.getByRole('status').innerText();
    // moto has no message move task: the console moved them itself, every one that was there.
    assert.match(
      notice,
      new RegExp(`Sent back ${before} message\\(s\\) to the queue by receive-send-delete`),
    );

    // Through the queue, the ingress dead-letters it once more: a new message, the old one gone.
    await eventually('the second dead-lettering', async () => (deadLettered() === 2 ? true : undefined));
    await eventually('the queues settled', async () =>
      (await queueTotal()) === 0 && (await dlqTotal()) === before ? true : undefined,
    );
    const again = await rowOf(marker);
    assert.equal(await again.count(), 1, 'one dead letter of it: nothing lost, nothing duplicated');
    assert.notEqual(await messageIdOf(again), firstId);
    assert.match(await again.innerText(), /UnusableMessage/);
  });

  it('deletes one message after a confirmation, and says so when someone else holds it', async () => {
    const marker = randomUUID();
    const keys = ['a', 'b'].map((x) => `dead/${marker}-${x}.csv`);
    for (const key of keys) {
      await queues.sqs.send(
        new SendMessageCommand(
          deadLetterRequest(queues.deadLetterQueueUrl, {
            body: notification(e2e.stack.inputBucket, key),
            reason: { type: 'InvalidInput', message: `test reason for ${key}` },
            sourceQueue: queues.queueUrl,
          }),
        ),
      );
    }
    const [rowA, rowB] = [await rowOf(keys[0]!), await rowOf(keys[1]!)];
    assert.match(
      await rowA.innerText(),
      new RegExp(`s3://${e2e.stack.inputBucket}/${keys[0]}\\s+InvalidInput`),
    );
    const [idA, idB] = [await messageIdOf(rowA), await messageIdOf(rowB)];
    const before = await dlqTotal();

    await rowA.getByRole('link', { name: /^Delete message / }).click();
    await page.getByRole('heading', { name: 'Delete a dead letter?' }).waitFor();
    assert.match(
      await page.locator('dl.facts').innerText(),
      new RegExp(`${keys[0]}\\s+Failure\\s+InvalidInput`),
    );
    assert.equal(await dlqTotal(), before, 'nothing deleted before the confirmation');
    await page.getByRole('button', { name: 'Delete for good' }).click();
    assert.equal(await page.getByRole('status').innerText(), `Deleted message ${idA}.`);
    assert.equal(await dlqTotal(), before - 1);
    assert.equal(await page.getByRole('row').filter({ hasText: keys[0]! }).count(), 0);
    assert.equal(await page.getByRole('row').filter({ hasText: keys[1]! }).count(), 1);

    // Someone else receives B and holds it: the console cannot get its receipt handle, and says why.
    await page
      .getByRole('row')
      .filter({ hasText: keys[1]! })
      .getByRole('link', { name: /^Delete message / })
      .click();
    await page.getByRole('heading', { name: 'Delete a dead letter?' }).waitFor();
    const held = await eventually('B received by someone else', async () => {
      const out = await queues.sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queues.deadLetterQueueUrl,
          MaxNumberOfMessages: 10,
          VisibilityTimeout: 120,
        }),
      );
      const mine = out.Messages?.find((m) => m.MessageId === idB);
      for (const m of out.Messages ?? []) {
        if (m !== mine) {
          await queues.sqs.send(
            new ChangeMessageVisibilityCommand({
              QueueUrl: queues.deadLetterQueueUrl,
              ReceiptHandle: m.ReceiptHandle!,
              VisibilityTimeout: 0,
            }),
          );
        }
      }
      return mine;
    });
    await page.getByRole('button', { name: 'Delete for good' }).click();
    const alert = await page.getByRole('alert').innerText();
    assert.match(alert, new RegExp(`Message ${idB} was not deleted: .*someone else holds it`));
    assert.equal(await dlqTotal(), before - 1, 'B is still there');
    await queues.sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: queues.deadLetterQueueUrl,
        ReceiptHandle: held.ReceiptHandle!,
        VisibilityTimeout: 0,
      }),
    );
    assert.equal(await (await rowOf(keys[1]!)).count(), 1);
  });

  it('refuses a send-back or a delete posted from another site', async () => {
    const marker = randomUUID();
    await queues.sqs.send(
      new SendMessageCommand(
        deadLetterRequest(queues.deadLetterQueueUrl, {
          body: notification(e2e.stack.inputBucket, `dead/${marker}.csv`),
          reason: { type: 'InvalidInput', message: 'kept' },
          sourceQueue: queues.queueUrl,
        }),
      ),
    );
    const id = await messageIdOf(await rowOf(marker));
    const before = await dlqTotal();
    const post = (path: string, origin: string, body: string) =>
      fetch(`${operatorConsole.url}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const elsewhere = 'https://elsewhere.example';
    assert.equal((await post('/dead-letters/send-back', elsewhere, '')).status, 403);
    assert.equal((await post('/dead-letters/delete', elsewhere, `id=${encodeURIComponent(id)}`)).status, 403);
    assert.equal(await dlqTotal(), before, 'nothing moved or deleted');
    assert.equal(await queueTotal(), 0);
    assert.equal(await (await rowOf(marker)).count(), 1);
    // Its own origin passes the check: the delete is done.
    const own = await post('/dead-letters/delete', operatorConsole.url, `id=${encodeURIComponent(id)}`);
    assert.equal(own.status, 303);
    assert.equal(own.headers.get('location'), `/dead-letters?deleted=${encodeURIComponent(id)}`);
    assert.equal(await dlqTotal(), before - 1);
  });
});

describe('Send back: the message move task where the endpoint has it', () => {
  const queueUrl = 'https://sqs.example/1/q';
  const deadLetterQueueUrl = 'https://sqs.example/1/q-dlq';
  /** An SQS client that knows queue ARNs and answers StartMessageMoveTask with `start`. */
  const fake = (start: () => Promise<unknown>) => {
    const sent: { name: string; input: Record<string, unknown> }[] = [];
    const sqs = {
      send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ name: command.constructor.name, input: command.input });
        if (command.constructor.name === 'GetQueueAttributesCommand') {
          return { Attributes: { QueueArn: `arn:${String(command.input.QueueUrl).split('/').pop()}` } };
        }
        if (command.constructor.name === 'StartMessageMoveTaskCommand') return start();
        if (command.constructor.name === 'ReceiveMessageCommand') return { Messages: [] };
        throw new Error(`unexpected ${command.constructor.name}`);
      },
    } as unknown as SQSClient;
    return { dlq: deadLetters({ sqs, queueUrl, deadLetterQueueUrl }), sent };
  };
  /** What moto answers for an action it lacks: a 500 page the SDK cannot read as an AWS error. */
  const motoNotImplemented = () =>
    Promise.reject(
      Object.assign(new SyntaxError('Unexpected token'), { $metadata: { httpStatusCode: 500 } }),
    );

  it('starts the task from the dead-letter queue to the queue', async () => {
    const { dlq, sent } = fake(async () => ({ TaskHandle: 'task-1' }));
    assert.deepEqual(await dlq.sendBack(), { method: 'move-task', taskHandle: 'task-1' });
    assert.deepEqual(sent.find((c) => c.name === 'StartMessageMoveTaskCommand')?.input, {
      SourceArn: 'arn:q-dlq',
      DestinationArn: 'arn:q',
    });
  });

  it('falls back to receive-send-delete when the endpoint lacks it, and asks no more', async () => {
    const { dlq, sent } = fake(motoNotImplemented);
    assert.deepEqual(await dlq.sendBack(), { method: 'receive-send-delete', moved: 0, left: 0 });
    await dlq.sendBack();
    assert.equal(sent.filter((c) => c.name === 'StartMessageMoveTaskCommand').length, 1);
  });

  it('does not fall back on a failure of the task itself', async () => {
    const refused = Object.assign(new Error('one task at a time'), {
      name: 'InvalidParameterValueException',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
    });
    const { dlq } = fake(() => Promise.reject(refused));
    await assert.rejects(dlq.sendBack(), /one task at a time/);
    const internal = { name: 'InternalError', $fault: 'server', $metadata: { httpStatusCode: 500 } };
    assert.equal(isUnsupportedOperation(internal), false, "AWS's own 500 is not a missing operation");
    assert.equal(isUnsupportedOperation({ name: 'AWS.SimpleQueueService.UnsupportedOperation' }), true);
  });
});

/**
 * The DynamoDB writer of csv-to-dynamodb against a table the test plays: what DynamoDB leaves unprocessed,
 * throttling, refusals, and two rows of one key. (Real writes into moto: the job's end-to-end tests.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { BatchWriteItemCommand, DynamoDBClient, WriteRequest } from '@aws-sdk/client-dynamodb';
import { dynamoNumber, itemOf } from '../processors/dynamodb-items';
import { createDynamoDbWriter, type Item } from '../processors/dynamodb-writer';

const TABLE = 'rows';

/** A table that answers each request with `answer` (what to leave unprocessed, or an error to throw). */
function table(
  answer: (items: WriteRequest[], call: number) => WriteRequest[] | Error = () => [],
  latencyMs: (call: number) => number = () => 2,
) {
  const state = {
    calls: 0,
    inFlight: 0,
    maxInFlight: 0,
    stored: new Map<string, Item>(),
    log: [] as number[],
  };
  const client = {
    async send(command: BatchWriteItemCommand) {
      const requests = command.input.RequestItems?.[TABLE] ?? [];
      const call = ++state.calls;
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      state.log.push(state.inFlight);
      await new Promise((r) => setTimeout(r, latencyMs(call)));
      state.inFlight--;
      const keys = requests.map((r) => r.PutRequest!.Item!.id!.S!);
      assert.equal(new Set(keys).size, keys.length, 'no request holds one key twice');
      const left = answer(requests, call);
      if (left instanceof Error) throw left;
      for (const r of requests)
        if (!left.includes(r)) state.stored.set(r.PutRequest!.Item!.id!.S!, r.PutRequest!.Item!);
      return { UnprocessedItems: left.length ? { [TABLE]: left } : {} };
    },
  } as unknown as DynamoDBClient;
  return { client, state };
}

const item = (id: string, v = '1'): Item => ({ id: { S: id }, v: { N: v } });
const writer = (client: DynamoDBClient, extra: { inFlight?: number; maxAttempts?: number } = {}) =>
  createDynamoDbWriter({
    client,
    table: TABLE,
    keyAttributes: ['id'],
    baseBackoffMs: 1,
    maxBackoffMs: 4,
    ...extra,
  });

const refusal = (name: string, message: string) => Object.assign(new Error(message), { name });

describe('the DynamoDB writer', () => {
  it('writes 25 items a request, several requests in flight, and no more than its limit', async () => {
    const { client, state } = table();
    const w = writer(client, { inFlight: 4 });
    for (let i = 0; i < 1000; i++) await w.put(item(`k${i}`));
    const stats = await w.close();
    assert.equal(state.stored.size, 1000);
    assert.equal(stats.itemsWritten, 1000);
    assert.equal(stats.requests, 40);
    assert.equal(state.maxInFlight, 4);
  });

  it('resends what DynamoDB left unprocessed until every item is written', async () => {
    // The first four answers each leave out all but one item: the table is at its throughput.
    const { client, state } = table((items, call) => (call <= 4 ? items.slice(1) : []));
    const w = writer(client, { inFlight: 8 });
    for (let i = 0; i < 500; i++) await w.put(item(`k${i}`));
    const stats = await w.close();
    assert.equal(state.stored.size, 500, 'every item written in the end');
    assert.equal(stats.itemsWritten, 500);
    assert.ok(stats.itemsRetried >= 4 * 24, `${stats.itemsRetried} items resent`);
    assert.equal(stats.throttled, 4);
  });

  it('halves the requests in flight on a throttled answer, and lets one more go per clean answer', async () => {
    // A table that answers when the test says.
    const waiting: { requests: WriteRequest[]; answer: (left: WriteRequest[]) => void }[] = [];
    const client = {
      send: (command: BatchWriteItemCommand) =>
        new Promise((resolve) =>
          waiting.push({
            requests: command.input.RequestItems?.[TABLE] ?? [],
            answer: (left) => resolve({ UnprocessedItems: left.length ? { [TABLE]: left } : {} }),
          }),
        ),
    } as unknown as DynamoDBClient;
    const sent = async (count: number) => {
      for (let i = 0; i < 200 && waiting.length < count; i++) await new Promise((r) => setTimeout(r, 5));
      await new Promise((r) => setTimeout(r, 20));
      return waiting.length;
    };
    const w = writer(client, { inFlight: 4 });
    for (let i = 0; i < 100; i++) await w.put(item(`k${i}`));
    assert.equal(await sent(4), 4, 'four requests in flight: the limit');
    // Throttled: everything left out. The limit halves to 2; the request is resent after its backoff.
    const first = waiting.shift()!;
    first.answer(first.requests);
    assert.equal(await sent(4), 4, 'the throttled request resent');
    const more = (async () => {
      for (let i = 100; i < 125; i++) await w.put(item(`k${i}`));
    })();
    assert.equal(await sent(5), 4, 'a new request waits: 4 in flight, 2 allowed');
    // A clean answer: 3 in flight, 3 allowed, still no room.
    waiting.shift()!.answer([]);
    assert.equal(await sent(4), 3, 'no new request after one clean answer');
    // Another: 2 in flight, 4 allowed again.
    waiting.shift()!.answer([]);
    assert.equal(await sent(3), 3, 'the new request goes once there is room');
    await more;
    const closing = w.close();
    for (let n = 0; n < 20 && waiting.length > 0; n++) {
      waiting.shift()!.answer([]);
      await sent(1);
    }
    assert.equal((await closing).itemsWritten, 125);
  });

  it('slows down on a throttling refusal instead of failing', async () => {
    const { client, state } = table((_, call) =>
      call % 3 === 0 ? refusal('ProvisionedThroughputExceededException', 'slow down') : [],
    );
    const w = writer(client);
    for (let i = 0; i < 300; i++) await w.put(item(`k${i}`));
    const stats = await w.close();
    assert.equal(state.stored.size, 300);
    assert.ok(stats.throttled > 0);
  });

  it('fails with the table and the count when a request stays unprocessed', async () => {
    const { client } = table((items) => items);
    const w = writer(client, { maxAttempts: 3 });
    for (let i = 0; i < 10; i++) await w.put(item(`k${i}`));
    await assert.rejects(w.close(), {
      name: 'DynamoDbWriteError',
      message: /10 items could not be written to DynamoDB table rows after 3 attempts/,
    });
  });

  it('fails at once, naming the fix, when the table does not exist', async () => {
    const { client, state } = table(() =>
      refusal('ResourceNotFoundException', 'Requested resource not found'),
    );
    const w = writer(client);
    for (let i = 0; i < 30; i++) await w.put(item(`k${i}`)).catch(() => undefined);
    await assert.rejects(w.close(), {
      message: /table rows refused .*ResourceNotFoundException.*DYNAMODB_TABLE/,
    });
    assert.ok(state.calls <= 2, `${state.calls} requests: no retry of a refusal`);
  });

  it('keeps the last row of a key: two writes of one key never travel together', async () => {
    // Later requests are answered sooner, so two requests of one key in flight would end out of order.
    const { client, state } = table(undefined, (call) => 2 + 8 * (4 - (call % 5)));
    const w = writer(client, { inFlight: 8 });
    // 50 keys: a request of 25 holds each once, and the next requests of the same keys follow it closely.
    for (let i = 0; i < 500; i++) await w.put(item(`k${i % 50}`, String(i)));
    await w.close();
    assert.equal(state.stored.size, 50);
    for (let k = 0; k < 50; k++) assert.equal(state.stored.get(`k${k}`)?.v?.N, String(450 + k));
  });

  it('a later row of a key replaces an earlier one in the same request', async () => {
    const { client, state } = table();
    const w = writer(client);
    for (let i = 0; i < 30; i++) await w.put(item(`k${i % 5}`, String(i)));
    await w.close();
    assert.equal(state.calls, 1, 'five distinct items: one request');
    for (let k = 0; k < 5; k++) assert.equal(state.stored.get(`k${k}`)?.v?.N, String(25 + k));
  });
});

describe('rows as items', () => {
  it('writes numbers as in the file, as DynamoDB takes them', () => {
    assert.equal(dynamoNumber('12.50'), '12.5');
    assert.equal(dynamoNumber('+7'), '7');
    assert.equal(dynamoNumber('.5'), '0.5');
    assert.equal(dynamoNumber('5.'), '5');
    assert.equal(dynamoNumber('-0.00'), '0');
    assert.equal(dynamoNumber('007'), '7');
    assert.equal(
      dynamoNumber('123456789012345678901234567890.12345678'),
      '123456789012345678901234567890.12345678',
    );
    assert.equal(dynamoNumber('1234567890123456789012345678901234567890'), undefined, 'over 38 digits');
    assert.equal(
      dynamoNumber('0.000000000000000000000000000000000000000001'),
      '0.000000000000000000000000000000000000000001',
    );
  });

  it('types attributes from the schema, leaves empty fields out, and keys a row by where it is', () => {
    const shape = {
      columns: [
        { name: 'id', type: 'string' },
        { name: 'amount', type: 'decimal' },
        { name: 'n', type: 'integer' },
        { name: 'note', type: 'string' },
      ],
    } as const;
    assert.deepEqual(itemOf(shape, ['a1', '19.99', '-3', ''], 'in/file.csv', 7), {
      item: { id: { S: 'a1' }, amount: { N: '19.99' }, n: { N: '-3' }, pk: { S: 'in/file.csv#7' } },
    });
    assert.deepEqual(itemOf({ ...shape, partitionKey: 'id' }, ['a1', '', '', 'x'], 'k', 1), {
      item: { id: { S: 'a1' }, note: { S: 'x' } },
    });
    assert.deepEqual(itemOf(shape, ['a', '1'.repeat(39), '', ''], 'k', 1), { tooPrecise: 'amount' });
  });
});

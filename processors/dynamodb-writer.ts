/**
 * Writes items into a DynamoDB table with `BatchWriteItem`: 25 items a request, several requests in flight.
 *
 * - What DynamoDB leaves unprocessed is resent, after an exponential backoff with full jitter; so is a whole
 *   request refused for throughput (throttling, or a request limit), after the SDK's own retries.
 * - Throttling slows the writer down instead of failing it: each throttled answer halves the requests in
 *   flight (down to one), and each answer that wrote everything lets one more go again, up to the limit.
 * - A request whose items are still not written after {@link DynamoDbWriterOptions.maxAttempts} answers fails
 *   the run with the table, the count and the reason. Any other refusal (no such table, no permission, an
 *   item the table rejects) fails it at once.
 * - Two items with the same key never travel at once: a request cannot hold both, and two requests in
 *   flight would race. The later one waits, so the last row of a key is the one the table keeps.
 *
 * Memory: at most `inFlight` requests of 25 items, plus one being filled.
 */
import {
  BatchWriteItemCommand,
  type AttributeValue,
  type DynamoDBClient,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';

export type Item = Record<string, AttributeValue>;

export interface DynamoDbWriterOptions {
  client: DynamoDBClient;
  table: string;
  /** The table's key attributes: an item's identity, for keeping two writes of one key apart. */
  keyAttributes: readonly string[];
  /**
   * Requests in flight at most (throttling lowers it for a while).
   * @default 8
   */
  inFlight?: number;
  /**
   * Answers a request may get before its items count as failed: unprocessed items and throttled requests
   * are resent until then.
   * @default 12
   */
  maxAttempts?: number;
  /**
   * First backoff before a resend; each next one doubles, up to `maxBackoffMs`, each a random part of it.
   * @default 50
   */
  baseBackoffMs?: number;
  /** @default 5000 */
  maxBackoffMs?: number;
  /** Called before each resend, with the items resent (for heartbeats and logs). */
  onRetry?: (items: number, attempt: number) => void;
}

/** What a writer did. */
export interface DynamoDbWriteStats {
  table: string;
  itemsWritten: number;
  /** Items sent again: unprocessed by DynamoDB, or in a request refused for throughput. */
  itemsRetried: number;
  requests: number;
  /** Answers that said the table or the account is at its throughput. */
  throttled: number;
}

/** Items per BatchWriteItem request: DynamoDB's limit. */
export const BATCH_ITEMS = 25;

/** Refusals that mean "slow down", whether the SDK gave up retrying them or the answer left items out. */
const THROTTLING = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);

/** A write the table refused: it fails the run (a chunk, or the file) with the table and the reason. */
export class DynamoDbWriteError extends Error {
  override name = 'DynamoDbWriteError';
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes items as they come; `close()` waits for every one and reports. */
export function createDynamoDbWriter(o: DynamoDbWriterOptions) {
  const limit = Math.max(1, o.inFlight ?? 8);
  const maxAttempts = o.maxAttempts ?? 12;
  const base = o.baseBackoffMs ?? 50;
  const cap = o.maxBackoffMs ?? 5000;
  const stats: DynamoDbWriteStats = {
    table: o.table,
    itemsWritten: 0,
    itemsRetried: 0,
    requests: 0,
    throttled: 0,
  };
  /** Requests allowed in flight now: halved by throttling, grown back by clean answers. */
  let allowed = limit;
  const running = new Set<Promise<void>>();
  /** Keys of the items in flight, and of those in the request being filled. */
  const inFlightKeys = new Map<string, Promise<void>>();
  let pending: { key: string; item: Item }[] = [];
  let failure: Error | undefined;
  /** Rethrows the first failure of any request, once there is one. */
  const check = () => {
    if (failure) throw failure;
  };

  const keyOf = (item: Item) =>
    JSON.stringify(o.keyAttributes.map((name) => item[name]?.S ?? item[name]?.N ?? item[name]?.B ?? null));

  async function send(batch: { key: string; item: Item }[]): Promise<void> {
    let requests: WriteRequest[] = batch.map(({ item }) => ({ PutRequest: { Item: item } }));
    for (let attempt = 1; ; attempt++) {
      let throttled = false;
      try {
        stats.requests++;
        const out = await o.client.send(new BatchWriteItemCommand({ RequestItems: { [o.table]: requests } }));
        const left = out.UnprocessedItems?.[o.table] ?? [];
        stats.itemsWritten += requests.length - left.length;
        if (left.length === 0) {
          if (allowed < limit) allowed++;
          return;
        }
        // DynamoDB leaves items out when a partition is at its throughput.
        throttled = true;
        requests = left;
      } catch (err) {
        const name = (err as { name?: string }).name ?? '';
        if (!THROTTLING.has(name)) throw refused(err, requests.length);
        throttled = true;
      }
      if (throttled) {
        stats.throttled++;
        allowed = Math.max(1, Math.floor(allowed / 2));
      }
      if (attempt >= maxAttempts) {
        throw new DynamoDbWriteError(
          `${requests.length} items could not be written to DynamoDB table ${o.table} after ${attempt} attempts: ` +
            'the table stayed at its throughput. Raise its capacity (or use on-demand), or lower the chunks in ' +
            'flight, then redrive the file.',
        );
      }
      stats.itemsRetried += requests.length;
      o.onRetry?.(requests.length, attempt);
      await sleep(Math.random() * Math.min(cap, base * 2 ** (attempt - 1)));
    }
  }

  function refused(err: unknown, items: number): Error {
    const e = err as { name?: string; message?: string };
    const fix =
      e.name === 'ResourceNotFoundException'
        ? ' Create the table, or set DYNAMODB_TABLE to one that exists in this account and region.'
        : e.name === 'AccessDeniedException'
          ? ' Grant dynamodb:BatchWriteItem on the table to the role that runs the job.'
          : e.name === 'ValidationException'
            ? " Check that the schema's key columns are the table's key attributes, with their types."
            : '';
    return new DynamoDbWriteError(
      `DynamoDB table ${o.table} refused a write of ${items} items: ${e.name ?? 'Error'}: ${e.message ?? String(err)}.${fix}`,
      { cause: err },
    );
  }

  /** Sends the request being filled, once a place is free; rejects with the first failure of any. */
  async function flush(): Promise<void> {
    if (pending.length === 0) return;
    while (running.size >= allowed) await Promise.race(running);
    check();
    const batch = pending;
    pending = [];
    const done = send(batch).then(
      () => undefined,
      (err: Error) => {
        failure ??= err;
      },
    );
    const tracked = done.finally(() => {
      running.delete(tracked);
      for (const { key } of batch) if (inFlightKeys.get(key) === tracked) inFlightKeys.delete(key);
    });
    running.add(tracked);
    for (const { key } of batch) inFlightKeys.set(key, tracked);
  }

  return {
    /** Queues one item; resolves once it is accepted (backpressure), rejects once a write has failed. */
    async put(item: Item): Promise<void> {
      check();
      const key = keyOf(item);
      const same = pending.findIndex((p) => p.key === key);
      if (same >= 0) {
        // A later row of the same key, in the same request: it replaces the earlier one.
        pending[same] = { key, item };
        return;
      }
      const earlier = inFlightKeys.get(key);
      if (earlier) {
        await flush();
        await earlier;
        check();
      }
      pending.push({ key, item });
      if (pending.length >= BATCH_ITEMS) await flush();
    },

    /** Writes what is left and waits for every request; rejects with the first failure. */
    async close(): Promise<DynamoDbWriteStats> {
      await flush();
      await Promise.all(running);
      check();
      return { ...stats };
    },
  };
}

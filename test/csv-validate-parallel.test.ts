/**
 * The parallel csv-validate (worker threads on blocks of whole records) against the sequential one: the same
 * output and rejects bytes, the same counts, statistics and totals (in the same order), the same errors with
 * the same line numbers, on whole files and on chunks, across block edges and records too long for a block.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { InvalidInputError } from '../contract/failures';
import { csvValidate, type CsvValidateOptions } from '../processors/csv-validate';
import { MAX_RECORD_BYTES } from '../processors/csv-record-validator';
import { loadSchema, parseSchema } from '../common/schema';
import { writeTransactions } from '../scripts/transactions';
import { collector, pieces } from './support/streams';

const TRANSACTIONS = loadSchema(undefined);
let dir: string;
let transactions: Buffer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'validate-parallel-'));
  await writeTransactions(join(dir, 't.csv'), 6 * 1024 * 1024, 11);
  transactions = readFileSync(join(dir, 't.csv'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

type Options = Omit<CsvValidateOptions, 'threads' | 'source' | 'schema'> & Partial<CsvValidateOptions>;

/** Validates `input`, fed in pieces of 64 KiB (as an S3 stream would), on `threads` threads. */
async function validate(input: Buffer, threads: number, opts: Options) {
  const output = collector();
  const rejects = collector();
  try {
    const result = await csvValidate(pieces(input, 65536), output.stream, rejects.stream, {
      source: 'in.csv',
      schema: TRANSACTIONS,
      maxRejectedPercent: 100,
      ...opts,
      threads,
    });
    return { result: JSON.stringify(result), output: output.bytes(), rejects: rejects.text() };
  } catch (err) {
    return {
      error: `${(err as Error).name}: ${(err as Error).message}`,
      invalid: err instanceof InvalidInputError,
    };
  }
}

/** Runs both and checks they agree; returns the sequential run. */
async function same(input: Buffer, opts: Options = {}) {
  const sequential = await validate(input, 1, opts);
  const parallel = await validate(input, 2, opts);
  assert.equal(parallel.error, sequential.error);
  assert.equal(parallel.invalid, sequential.invalid);
  assert.equal(parallel.result, sequential.result);
  assert.equal(parallel.rejects, sequential.rejects);
  assert.ok(
    (parallel.output ?? Buffer.alloc(0)).equals(sequential.output ?? Buffer.alloc(0)),
    'the same bytes',
  );
  return sequential;
}

const rejectRows = (rejects: string | undefined) => (rejects ?? '').split('\n').slice(1, -1);

describe('parallel csv-validate', () => {
  it('keeps the valid rows, rejects, counts and exact totals of one thread on 6 MiB of transactions, with a BOM', async () => {
    const { result, rejects } = await same(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), transactions]));
    const parsed = JSON.parse(result!) as { rowsIn: number; rowsRejected: number; totals: object };
    assert.ok(parsed.rowsIn > 60_000 && parsed.rowsRejected > 100, result);
    // Rejects from many blocks, numbered as the file's rows.
    const rows = rejectRows(rejects).map((line) => Number(line.split(',')[0]));
    assert.ok(rows.at(-1)! > parsed.rowsIn / 2, `last reject at row ${rows.at(-1)}`);
    assert.deepEqual(Object.keys((parsed.totals as Record<string, object>).amount!), [
      'CAD',
      'CHF',
      'EUR',
      'GBP',
      'JPY',
      'USD',
    ]);
  });

  it('writes the rejects of the blocks done while the last MiB of input is still to come', async () => {
    const rejects = collector();
    const half = transactions.lastIndexOf(0x0a, 5 * 1024 * 1024) + 1;
    let rejectsBeforeTheEnd = '';
    async function* input() {
      yield* pieces(transactions.subarray(0, half), 65536);
      // The first blocks come back within moments; their rejects must not wait for the input's end.
      for (let waited = 0; waited < 10_000 && rejectRows(rejects.text()).length === 0; waited += 20)
        await new Promise((resolve) => setTimeout(resolve, 20));
      rejectsBeforeTheEnd = rejects.text();
      yield transactions.subarray(half);
    }
    await csvValidate(input(), collector().stream, rejects.stream, {
      source: 'in.csv',
      schema: TRANSACTIONS,
      maxRejectedPercent: 100,
      threads: 2,
    });
    assert.ok(rejectRows(rejectsBeforeTheEnd).length > 10, `rejects written early: ${rejectsBeforeTheEnd}`);
  });

  it('validates a chunk (the header given, rows from 1001, lines from 2000) as one thread does', async () => {
    const body = transactions.subarray(transactions.indexOf(0x0a) + 1);
    const header = transactions.subarray(0, transactions.indexOf(0x0a)).toString();
    const { rejects } = await same(body, { header, firstRow: 1001, firstLine: 2000, applyThreshold: false });
    assert.match(rejectRows(rejects)[0]!, /^\d{4,},\d{4,},/);
  });

  it('reads ;-, tab- and |-separated CSV with bare quotes as one thread does', async () => {
    const schema = parseSchema(
      {
        schemas: {
          notes: {
            columns: [
              { name: 'id', type: 'integer' },
              { name: 'note', type: 'string', required: true },
            ],
          },
        },
      },
      'notes.json',
      'notes',
    );
    for (const delimiter of [';', '\t', '|'] as const) {
      const rows = Array.from({ length: 120_000 }, (_, i) =>
        i % 97 === 0
          ? `x${i}${delimiter}bad id\n`
          : i % 89 === 0
            ? `${i}${delimiter}\n`
            : `${i}${delimiter}12" pipe "${i}"\n`,
      );
      const { result } = await same(Buffer.from(`id${delimiter}note\n${rows.join('')}`), {
        schema,
        delimiter,
      });
      const parsed = JSON.parse(result!) as { bareQuoteFields: number; rejectsByRule: object };
      assert.ok(parsed.bareQuoteFields > 100_000, result);
      assert.deepEqual(Object.keys(parsed.rejectsByRule).sort(), ['integer', 'required']);
    }
  });

  it('rejects a record over the limit inside a block and one too long for any block, and goes on after them', async () => {
    const head = transactions.subarray(0, 2 * 1024 * 1024);
    const cut = head.lastIndexOf(0x0a) + 1;
    const tail = transactions.subarray(transactions.indexOf(0x0a, 4 * 1024 * 1024) + 1);
    // Fields of 512 KiB each: a record too long, none of its fields (MAX_FIELD_BYTES fails the file instead).
    const tooLong = (bytes: number) =>
      Buffer.from(
        `tx1,acct1,2025-01-01,1.00,USD,${Array(Math.ceil(bytes / 2 ** 19))
          .fill('m'.repeat(2 ** 19))
          .join(',')},fuel\n`,
      );
    const input = Buffer.concat([
      head.subarray(0, cut),
      tooLong(MAX_RECORD_BYTES + 1000),
      transactions.subarray(cut, 3 * 1024 * 1024),
      transactions.subarray(3 * 1024 * 1024, transactions.indexOf(0x0a, 3 * 1024 * 1024) + 1),
      tooLong(4 * MAX_RECORD_BYTES),
      tail,
    ]);
    const { rejects } = await same(input);
    assert.equal(rejectRows(rejects).filter((line) => line.includes(',record_too_long,')).length, 2);
  });

  it('ends with a record without terminator, valid or not, as one thread does', async () => {
    const text = transactions.toString('utf8').trimEnd();
    await same(Buffer.from(text));
    await same(Buffer.from(`${text.slice(0, text.lastIndexOf('\n'))}\ntx9,acct9,2025-13-45,1.00,USD,M,fuel`));
  });

  it('fails on broken quoting, a foreign header or no header with the message and line of one thread', async () => {
    const at = transactions.indexOf('Merchant', 4 * 1024 * 1024);
    const broken = Buffer.concat([
      transactions.subarray(0, at),
      Buffer.from('"Me"rchant'),
      transactions.subarray(at + 8),
    ]);
    const { error, invalid } = await same(broken);
    assert.match(error ?? '', /on line \d{5,}: unexpected 'r' after the closing quote/);
    assert.equal(invalid, true);
    assert.match(
      (await same(Buffer.from(`id,x\n${'1,2\n'.repeat(400_000)}`))).error ?? '',
      /header does not match/,
    );
    assert.match((await same(Buffer.from('\n\r\n'.repeat(600_000)))).error ?? '', /no header/);
  });
});

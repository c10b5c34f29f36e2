/**
 * The parallel csv-transform (worker threads on blocks cut at LFs outside quotes) against the sequential one:
 * the same bytes, the same counts, the same errors with the same line numbers, whole files and chunks.
 */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { CsvDelimiter } from '../contract/jobs';
import { MAX_FIELD_BYTES } from '../csv/scanner';
import { csvTransform, type CsvTransformOptions } from '../processors/csv-transform';

function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * About `bytes` of CSV with quoted delimiters, quotes and newlines (LF and CRLF), blank lines and CRLF records,
 * and with `bare`, quotes inside unquoted fields.
 */
function tricky(
  bytes: number,
  seed: number,
  {
    bom = false,
    lastEol = true,
    delimiter = ',',
    bare = false,
  }: { bom?: boolean; lastEol?: boolean; delimiter?: CsvDelimiter; bare?: boolean } = {},
): Buffer {
  const rnd = seeded(seed);
  const d = delimiter;
  const lines: string[] = [`id${d}name${d}"note${d} with separator"`];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const r = rnd();
    const note =
      r < 0.05
        ? `"line one\nline ""two""\r\nthree"`
        : r < 0.1
          ? `"${'"'.repeat(2 * Math.floor(rnd() * 3))}x${d}y"`
          : r < 0.12
            ? ''
            : bare && r < 0.2
              ? `12" pipe${d}37°36'37.8"N ""${i}`
              : `plain ${i}`;
    const eol = rnd() < 0.2 ? '\r\n' : '\n';
    const line = `${i}${d}name ${Math.floor(rnd() * 1e6)}${d}${note}${eol}${rnd() < 0.01 ? '\n' : ''}`;
    lines.push(line);
    size += line.length;
  }
  const text = `${lines[0]}\n${lines.slice(1).join('')}`;
  return Buffer.concat([
    bom ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0),
    Buffer.from(lastEol ? text : text.replace(/\r?\n+$/, '')),
  ]);
}

/** Runs the transform, feeding `input` in pieces of 64 KiB (as an S3 stream would). */
async function transform(input: Buffer, opts: CsvTransformOptions) {
  const parts: Buffer[] = [];
  const pieces = Array.from({ length: Math.ceil(input.length / 65536) }, (_, i) =>
    input.subarray(i * 65536, (i + 1) * 65536),
  );
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      parts.push(chunk);
      done();
    },
  });
  try {
    const counts = await csvTransform(Readable.from(pieces), sink, opts);
    return { output: Buffer.concat(parts), counts };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

const base = { processedAt: '2026-01-01T00:00:00.000Z', source: 'in.csv' };

async function same(input: Buffer, opts: Partial<CsvTransformOptions> = {}) {
  const sequential = await transform(input, { ...base, ...opts, threads: 1 });
  const parallel = await transform(input, { ...base, ...opts, threads: 2 });
  assert.deepEqual(parallel.error, sequential.error);
  assert.deepEqual(parallel.counts, sequential.counts);
  assert.ok(
    (parallel.output ?? Buffer.alloc(0)).equals(sequential.output ?? Buffer.alloc(0)),
    'the same bytes',
  );
  return sequential;
}

describe('parallel csv-transform', () => {
  it('writes the bytes and counts of the sequential transform on 6 MiB of tricky CSV, with a BOM', async () => {
    const { counts } = await same(tricky(6 * 1024 * 1024, 1, { bom: true }));
    assert.ok(counts && counts.rowsIn > 50_000);
  });

  it('never cuts a block inside a quoted field, even where most newlines are quoted', async () => {
    const records = Array.from(
      { length: 150_000 },
      (_, i) => `${i},"${'a'.repeat(i % 7)}\nb\r\nc\n""d""\ne",x\n`,
    );
    const { counts } = await same(Buffer.from(`id,text,z\n${records.join('')}`));
    assert.equal(counts?.rowsIn, 150_000);
  });

  it('keeps a last record without terminator, and works on a chunk (no header, lines from 1000)', async () => {
    await same(tricky(3 * 1024 * 1024, 2, { lastEol: false }));
    const file = tricky(3 * 1024 * 1024, 3);
    const body = file.subarray(file.indexOf(0x0a) + 1);
    await same(body, { header: 'id,name,note', firstRow: 10, firstLine: 1000 });
  });

  it('reports a broken quote deep in the file on the line the sequential transform names', async () => {
    const file = tricky(5 * 1024 * 1024, 4);
    const at = file.indexOf('plain', 3 * 1024 * 1024);
    const broken = Buffer.concat([file.subarray(0, at), Buffer.from('"pl"ain'), file.subarray(at + 5)]);
    const { error } = await same(broken);
    assert.match(error ?? '', /invalid CSV on line \d{5,}: unexpected 'a' after the closing quote/);
  });

  for (const delimiter of [';', '\t', '|'] as const) {
    it(`reads ${JSON.stringify(delimiter)}-separated CSV with bare quotes as the sequential transform does`, async () => {
      const { counts, output } = await same(tricky(4 * 1024 * 1024, 6, { delimiter, bare: true }), {
        delimiter,
      });
      assert.ok(counts && counts.bareQuoteFields > 10_000, `bare-quote fields: ${counts?.bareQuoteFields}`);
      assert.ok(output?.subarray(0, 60).toString().includes(`${delimiter}processed_at\n`));
    });
  }

  it('transforms a record longer than the blocks, and a field never closed fails with its line', async () => {
    const file = tricky(3 * 1024 * 1024, 7);
    const lines = file.toString('latin1').split('\n').length;
    const long = Buffer.from(`1,${'x,'.repeat(2 * MAX_FIELD_BYTES)}y\n`);
    await same(Buffer.concat([file, long, file.subarray(file.indexOf(0x0a) + 1)]));
    const open = Buffer.from(`2,"never closed ${'z\n'.repeat(MAX_FIELD_BYTES)}`);
    const { error } = await same(Buffer.concat([file, open, file]));
    assert.match(error ?? '', new RegExp(`on line ${lines}: a field longer than ${MAX_FIELD_BYTES} bytes`));
  });

  it('reports an unterminated quote at the end with the line it opened on', async () => {
    const file = tricky(3 * 1024 * 1024, 5);
    const { error } = await same(Buffer.concat([file, Buffer.from('9,x,"never closed\nmore\n')]));
    assert.match(error ?? '', /unterminated quoted field/);
  });
});

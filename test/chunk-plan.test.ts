/** Chunk planning: every split lands on a record boundary, even with quoted newlines right at the target. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_CHUNKS, planChunks } from '../csv/chunk-plan';
import { CsvScanner } from '../csv/scanner';
import { stripBom } from '../csv/streams';
import { InvalidInputError } from '../contract/failures';

async function* pieces(buf: Buffer, size: () => number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length;) {
    const n = Math.max(1, size());
    yield buf.subarray(i, i + n);
    i += n;
  }
}

/** Records of `buf` scanned on its own (throws if a range starts inside a quoted field and so breaks). */
async function countRecords(buf: Buffer): Promise<number> {
  let n = 0;
  const scanner = new CsvScanner('chunk', { partial: () => {}, record: () => (n += 1) });
  for await (const chunk of stripBom(
    pieces(buf, () => buf.length),
    () => {},
  ))
    scanner.push(chunk);
  scanner.finish();
  return n;
}

function seeded(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

function randomCsv(rnd: () => number): Buffer {
  const eol = rnd() < 0.5 ? '\n' : '\r\n';
  const field = () => {
    const r = rnd();
    if (r < 0.2) return `"line one${rnd() < 0.5 ? '\n' : '\r\n'}line ""two"", with comma"`;
    if (r < 0.3) return '';
    return `v${Math.floor(rnd() * 1000)}`;
  };
  const rows = ['id,name,note'];
  for (let i = 0, n = 1 + Math.floor(rnd() * 30); i < n; i += 1)
    rows.push([field(), field(), field()].join(','));
  const text = rows.join(eol) + (rnd() < 0.7 ? eol : '');
  return Buffer.concat([rnd() < 0.3 ? Buffer.from([0xef, 0xbb, 0xbf]) : Buffer.alloc(0), Buffer.from(text)]);
}

async function checkPlan(file: Buffer, chunkSize: number, feed: () => number) {
  const plan = await planChunks(pieces(file, feed), chunkSize, 'test.csv');
  assert.equal(plan.size, file.length);
  let at = 0;
  let rowsBefore = 0;
  for (const [i, c] of plan.chunks.entries()) {
    assert.equal(c.start, at, 'chunks are contiguous from 0');
    assert.ok(c.end > c.start);
    if (i < plan.chunks.length - 1) assert.ok(c.end - c.start >= chunkSize, 'only the last chunk is short');
    const lfBefore = file.subarray(0, c.start).toString('latin1').split('\n').length - 1;
    assert.equal(c.firstLine, 1 + lfBefore, `chunk ${i} starts on its line`);
    assert.equal(c.firstRow, 1 + rowsBefore, `chunk ${i} starts on its row`);
    const records = await countRecords(file.subarray(c.start, c.end));
    rowsBefore += i === 0 ? records - 1 : records;
    at = c.end;
  }
  if (plan.chunks.length > 0) assert.equal(at, file.length, 'the chunks cover the file');
  const whole = await countRecords(file);
  assert.equal(rowsBefore + 1, whole, 'each chunk holds whole records, none split');
  assert.equal(plan.rows, whole - 1);
  assert.ok(plan.headerEnd > 0 && plan.headerEnd <= (plan.chunks[0]?.end ?? file.length));
}

describe('chunk planning', () => {
  it('never splits a quoted newline that sits right at the target offset', async () => {
    const file = Buffer.from('h1,h2\n1,"a\nb"\n2,x\n3,"c\r\nd"\r\n');
    for (let size = 1; size <= file.length; size += 1) await checkPlan(file, size, () => 3);
  });

  it('splits random CSV (quotes, CRLF, BOM, embedded newlines) on record boundaries for every chunk size', async () => {
    const rnd = seeded(42);
    for (let n = 0; n < 60; n += 1) {
      const file = randomCsv(rnd);
      for (const size of [1, 2, 7, 16, 33, 64, 200, file.length + 1]) {
        await checkPlan(file, size, () => 1 + Math.floor(rnd() * 17));
      }
    }
  });

  it("keeps the header text (BOM off, quoted newline in) and stays within S3's 10,000 parts", async () => {
    const file = Buffer.from('\ufeff"h\n1",h2\r\n' + 'a,b\n'.repeat(10_000), 'utf8');
    const plan = await planChunks(
      pieces(file, () => 4096),
      1,
      'many.csv',
      file.length,
    );
    assert.equal(plan.header, '"h\n1",h2');
    assert.equal(plan.rows, 10_000);
    assert.equal(plan.chunkSize, Math.ceil(file.length / MAX_CHUNKS));
    assert.ok(plan.chunks.length <= MAX_CHUNKS && plan.chunks.length > MAX_CHUNKS / 2);
  });

  it('plans one chunk for a header-only file, and fails on an unterminated quote with its line', async () => {
    assert.deepEqual(
      await planChunks(
        pieces(Buffer.from('a,b\n'), () => 2),
        4,
        'h.csv',
      ),
      {
        size: 4,
        headerEnd: 4,
        header: 'a,b',
        rows: 0,
        chunkSize: 4,
        chunks: [{ start: 0, end: 4, firstRow: 1, firstLine: 1 }],
      },
    );
    await assert.rejects(
      planChunks(
        pieces(Buffer.from('a,b\n1,"open\n2,3\n'), () => 5),
        4,
        'bad.csv',
      ),
      (err: unknown) => err instanceof InvalidInputError && /line 2/.test(err.message),
    );
  });
});

/**
 * The processor's chunk mode: a CSV file cut at record boundaries into byte ranges, each range processed on
 * its own (RANGE_START / RANGE_END, CSV_HEADER, FIRST_ROW, FIRST_LINE, or the CLI's --range, --header,
 * --first-row, --first-line), gives parts whose concatenation is byte for byte the whole file's output, and
 * rejects files whose concatenation is the whole file's rejects file. Boundaries come from a reference scan
 * written here, independent of the processor's scanner and of the chunk planner.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { containerSandbox } from '../activities/local-backend';
import { OUTPUT_METADATA } from '../contract/layout';
import { csvTransform } from '../processors/csv-transform';
import { csvValidate } from '../processors/csv-validate';
import { InvalidInputError } from '../contract/failures';
import { loadSchema } from '../common/schema';
import { ensureTools } from '../scripts/tools';
import { writeTransactions } from '../scripts/transactions';
import { runProcessor } from './support/processor';
import { collector, pieces } from './support/streams';

const PROCESSED_AT = '2026-03-04T05:06:07.000Z';
const BOM = '\ufeff';
const TRANSACTIONS = loadSchema(undefined);

/**
 * For csv-transform: a BOM, CRLF and LF terminators, quoted fields holding LF, CRLF, commas and quotes, blank
 * lines of both kinds, records that start with the bytes of a BOM (data, not a BOM; one is nothing else),
 * ragged rows and a last record without terminator.
 */
const TRANSFORM_FILE = Buffer.from(
  [
    `${BOM}id,name,note\r\n`,
    '1,plain,a\r\n',
    '2,"multi\nline",b\r\n',
    '3,"crlf\r\ninside",c\n',
    '\n',
    '\r\n',
    '4,"quote ""x"", comma",d\r\n',
    '"5","ends with a newline\n",e\n',
    `${BOM}6,ü,ragged,extra\n`,
    `${BOM}\n`,
    '7,,\r\n',
    '\n',
    '8,last,no terminator',
  ].join(''),
  'utf8',
);

const TX_HEADER = 'transaction_id,account_id,transaction_date,amount,currency,merchant,category';
/**
 * For csv-validate: valid and rejected rows on both sides of quoted line breaks, so that row ≠ line, and a
 * rejected row that starts with the bytes of a BOM.
 */
const VALIDATE_FILE = Buffer.from(
  [
    `${BOM}${TX_HEADER}\r\n`,
    'tx1,acct1,2025-01-31,12.50,USD,Merchant 1,grocery\r\n',
    'tx2,acct2,2025-02-30,1.00,EUR,bad date,travel\r\n',
    'tx3,acct3,2024-02-29,-0.5,GBP,"Shop\nwith a line break",dining\r\n',
    '\r\n',
    'tx4,acct4,2024-03-01,7,CHF,"Crlf\r\ninside, and ""quotes""",fuel\n',
    'tx5,acct5,2024-03-02,twelve,usd,two failures,fuel\n',
    'tx6,acct6,2024-03-03,3.25,USD,"multi\nline\nmerchant",grocery\n',
    '\n',
    'tx7,acct7,2024-03-04,,USD,missing amount,\n',
    'tx8,acct8,2024-03-05,99999999999999999.99,EUR,big,travel\n',
    'tx9,too,few,fields\n',
    `${BOM}tx9b,acct9,2024-13-01,5,USD,starts with the bytes of a BOM,misc\n`,
    'tx10,acct10,2024-03-06,0.01,JPY,"last\r\nrecord",misc',
  ].join(''),
  'utf8',
);

/** A place a chunk may start: right after a line feed outside quotes, at or after the header's end. */
interface Cut {
  offset: number;
  /** Data rows before `offset`, plus 1: FIRST_ROW of a chunk starting there. */
  firstRow: number;
  /** Line feeds before `offset`, plus 1: FIRST_LINE of a chunk starting there. */
  firstLine: number;
}

/**
 * Reference scan, written for clarity: the offsets that follow a line feed outside quotes, from the end of
 * the header on, with the row and line numbers there; and the header's text.
 */
function referenceCuts(data: Buffer): { header: string; cuts: Cut[] } {
  const text = data.toString('latin1'); // one char per byte: offsets are byte offsets
  let at = text.startsWith('\xef\xbb\xbf') ? 3 : 0;
  const headerStart = at;
  let quoted = false;
  let recordHasBytes = false;
  let records = 0;
  let lines = 1;
  let header: string | undefined;
  const cuts: Cut[] = [];
  for (; at < text.length; at++) {
    const ch = text[at]!;
    if (ch === '"') quoted = !quoted; // a doubled quote toggles twice
    if (ch === '\n') lines++;
    if (quoted || ch !== '\n') {
      if (ch !== '\r') recordHasBytes = true;
      continue;
    }
    if (recordHasBytes) {
      records++;
      if (header === undefined) {
        const end = text[at - 1] === '\r' ? at - 1 : at;
        header = data.toString('utf8', headerStart, end);
      }
    }
    recordHasBytes = false;
    if (header !== undefined && at + 1 < data.length) {
      cuts.push({ offset: at + 1, firstRow: records, firstLine: lines });
    }
  }
  assert.ok(header !== undefined, 'the test file has a header');
  return { header, cuts };
}

/** The byte ranges of the chunks a file is cut into at `cuts`, with what each chunk is told. */
function chunksAt(size: number, cuts: readonly Cut[]): (Cut & { end: number })[] {
  const starts = [{ offset: 0, firstRow: 1, firstLine: 1 }, ...cuts];
  return starts.map((c, i) => ({ ...c, end: starts[i + 1]?.offset ?? size }));
}

interface Counts {
  rowsIn: number;
  rowsOut: number;
  rowsRejected: number;
}

/** Runs csv-transform over each chunk in-process; the parts concatenated and the summed counts. */
async function transformChunks(data: Buffer, cuts: readonly Cut[], header: string, pieceSize: number) {
  const parts: Buffer[] = [];
  const counts: Counts = { rowsIn: 0, rowsOut: 0, rowsRejected: 0 };
  for (const c of chunksAt(data.length, cuts)) {
    const out = collector();
    const result = await csvTransform(pieces(data.subarray(c.offset, c.end), pieceSize), out.stream, {
      processedAt: PROCESSED_AT,
      source: 'file.csv',
      ...(c.offset > 0 ? { header, firstRow: c.firstRow, firstLine: c.firstLine } : {}),
    });
    parts.push(out.bytes());
    counts.rowsIn += result.rowsIn;
    counts.rowsOut += result.rowsOut;
  }
  return { output: Buffer.concat(parts), counts };
}

/** Runs csv-validate over each chunk in-process, as a chunk run does (no threshold). */
async function validateChunks(data: Buffer, cuts: readonly Cut[], header: string, pieceSize: number) {
  const outputs: Buffer[] = [];
  const rejects: Buffer[] = [];
  const counts: Counts = { rowsIn: 0, rowsOut: 0, rowsRejected: 0 };
  const chunks = chunksAt(data.length, cuts);
  for (const c of chunks) {
    const out = collector();
    const rej = collector();
    const result = await csvValidate(
      pieces(data.subarray(c.offset, c.end), pieceSize),
      out.stream,
      rej.stream,
      {
        schema: TRANSACTIONS,
        source: 'file.csv',
        ...(c.offset > 0 ? { header, firstRow: c.firstRow, firstLine: c.firstLine } : {}),
        ...(chunks.length > 1 ? { applyThreshold: false } : { maxRejectedPercent: 100 }),
      },
    );
    outputs.push(out.bytes());
    rejects.push(rej.bytes());
    counts.rowsIn += result.rowsIn;
    counts.rowsOut += result.rowsOut;
    counts.rowsRejected += result.rowsRejected;
  }
  return { output: Buffer.concat(outputs), rejects: Buffer.concat(rejects), counts };
}

/** Every way to pick `k` of `items`, in order. */
function* choose<T>(items: readonly T[], k: number, from = 0): Generator<T[]> {
  if (k === 0) {
    yield [];
    return;
  }
  for (let i = from; i <= items.length - k; i++) {
    for (const rest of choose(items, k - 1, i + 1)) yield [items[i]!, ...rest];
  }
}

describe('the reference scan of the test files', () => {
  it('finds the record boundaries, with row and line numbers', () => {
    const { header, cuts } = referenceCuts(TRANSFORM_FILE);
    assert.equal(header, 'id,name,note');
    const at = (prefix: string) => Buffer.byteLength(prefix);
    // Right after the record whose quoted field holds a CRLF: data rows 1-3 before it, lines 1-5.
    const afterCrlf = at(`${BOM}id,name,note\r\n1,plain,a\r\n2,"multi\nline",b\r\n3,"crlf\r\ninside",c\n`);
    assert.deepEqual(
      cuts.find((c) => c.offset === afterCrlf),
      { offset: afterCrlf, firstRow: 4, firstLine: 7 },
    );
    assert.equal(cuts[0]!.offset, at(`${BOM}id,name,note\r\n`), 'the first cut is the end of the header');
    assert.equal(cuts.length, 12);
  });
});

describe('chunks in-process: the parts concatenate to the whole-file output', () => {
  it('csv-transform: every split in 2 and 3 chunks, in 1-byte, 5-byte and whole pieces', async () => {
    const { header, cuts } = referenceCuts(TRANSFORM_FILE);
    const whole = await transformChunks(TRANSFORM_FILE, [], header, 1 << 16);
    assert.equal(whole.counts.rowsIn, 9);
    for (const k of [1, 2]) {
      for (const chosen of choose(cuts, k)) {
        for (const size of [1, 5, 1 << 16]) {
          const split = await transformChunks(TRANSFORM_FILE, chosen, header, size);
          const what = `cuts at ${chosen.map((c) => c.offset).join(', ')}, ${size}-byte pieces`;
          assert.equal(split.output.toString('utf8'), whole.output.toString('utf8'), what);
          assert.ok(split.output.equals(whole.output), `bytes differ: ${what}`);
          assert.deepEqual(split.counts, whole.counts, what);
        }
      }
    }
  });

  it('csv-transform: one chunk per record', async () => {
    const { header, cuts } = referenceCuts(TRANSFORM_FILE);
    const whole = await transformChunks(TRANSFORM_FILE, [], header, 1 << 16);
    const split = await transformChunks(TRANSFORM_FILE, cuts, header, 3);
    assert.ok(split.output.equals(whole.output));
    assert.deepEqual(split.counts, whole.counts);
  });

  it('csv-validate: every split in 2 and 3 chunks: outputs, rejects (global row and line) and counts', async () => {
    const { header, cuts } = referenceCuts(VALIDATE_FILE);
    const whole = await validateChunks(VALIDATE_FILE, [], header, 1 << 16);
    assert.deepEqual(whole.counts, { rowsIn: 11, rowsOut: 6, rowsRejected: 5 });
    // A rejected row after quoted line breaks: its row and line numbers differ, and both must survive a split.
    assert.match(whole.rejects.toString(), /^7,14,amount,required,,/m);
    for (const k of [1, 2]) {
      for (const chosen of choose(cuts, k)) {
        for (const size of [1, 7, 1 << 16]) {
          const split = await validateChunks(VALIDATE_FILE, chosen, header, size);
          const what = `cuts at ${chosen.map((c) => c.offset).join(', ')}, ${size}-byte pieces`;
          assert.equal(split.output.toString('utf8'), whole.output.toString('utf8'), what);
          assert.ok(split.output.equals(whole.output), `bytes differ: ${what}`);
          assert.equal(split.rejects.toString('utf8'), whole.rejects.toString('utf8'), what);
          assert.deepEqual(split.counts, whole.counts, what);
        }
      }
    }
  });

  it('csv-validate: a chunk checks the header it is given, and lists expected and found columns', async () => {
    const out = collector();
    const rejects = collector();
    await assert.rejects(
      csvValidate(pieces(Buffer.from('tx1,a,2025-01-01,1,USD,m,c\n'), 64), out.stream, rejects.stream, {
        schema: TRANSACTIONS,
        source: 'file.csv',
        header: 'transaction_id,account,"date"',
        firstRow: 5,
        firstLine: 7,
        applyThreshold: false,
      }),
      (err: unknown) => {
        assert.ok(err instanceof InvalidInputError);
        assert.match(err.message, /column 2 is "account", expected "account_id"/);
        assert.match(err.message, /Expected 7 columns: transaction_id, account_id,/);
        assert.match(err.message, /Found 3: transaction_id, account, date\./);
        return true;
      },
    );
  });

  it('an unterminated quote in a later chunk names the line where the file opens it', async () => {
    const data = Buffer.from(`a,b\n${'1,2\n'.repeat(50)}3,"open\nstill open\n4,5\n`);
    const { cuts } = referenceCuts(Buffer.from(`a,b\n${'1,2\n'.repeat(50)}`));
    const cut = cuts[40]!;
    assert.equal(cut.firstLine, 42);
    const out = collector();
    await assert.rejects(
      csvTransform(pieces(data.subarray(cut.offset), 5), out.stream, {
        processedAt: PROCESSED_AT,
        source: 'file.csv',
        header: 'a,b',
        firstRow: cut.firstRow,
        firstLine: cut.firstLine,
      }),
      /file\.csv: invalid CSV on line 52: unterminated quoted field: .*the file ends on line 55\)/,
    );
  });
});

/** The CLI options that describe chunk `c` of a file with header `header`. */
function chunkArgs(c: Cut & { end: number }, header: string): string[] {
  return [
    '--range',
    `${c.offset}-${c.end}`,
    ...(c.offset > 0
      ? ['--header', header, '--first-row', String(c.firstRow), '--first-line', String(c.firstLine)]
      : []),
  ];
}

const readJson = (file: string) => JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;

function sumCounts(stats: Record<string, unknown>[]): Counts {
  const sum = (k: keyof Counts) => stats.reduce((n, s) => n + ((s[k] as number | undefined) ?? 0), 0);
  return { rowsIn: sum('rowsIn'), rowsOut: sum('rowsOut'), rowsRejected: sum('rowsRejected') };
}

describe('processor CLI in chunk mode (local files)', { concurrency: 2 }, () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'processor-chunks-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('csv-transform: 4 chunks read with --range concatenate to the whole-file output; stats files', async () => {
    const input = path.join(dir, 'transform.csv');
    fs.writeFileSync(input, TRANSFORM_FILE);
    const { header, cuts } = referenceCuts(TRANSFORM_FILE);
    // Right after the records with an LF, a CRLF and a final LF inside quotes (rows 2, 3 and 5).
    const after = (rows: number) => cuts.find((c) => c.firstRow === rows + 1)!;
    const chunks = chunksAt(TRANSFORM_FILE.length, [after(2), after(3), after(5)]);
    const common = ['--job', 'csv-transform', input, '--processed-at', PROCESSED_AT];
    const wholeOut = path.join(dir, 't-whole.csv');
    const runs = await Promise.all([
      runProcessor([...common.slice(0, 3), wholeOut, ...common.slice(3), '--stats', `${wholeOut}.json`]),
      ...chunks.map((c, i) =>
        runProcessor([
          ...common.slice(0, 3),
          path.join(dir, `t-part-${i}.csv`),
          ...common.slice(3),
          ...chunkArgs(c, header),
          '--stats',
          path.join(dir, `t-stats-${i}.json`),
        ]),
      ),
    ]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const whole = fs.readFileSync(wholeOut);
    const parts = chunks.map((_, i) => fs.readFileSync(path.join(dir, `t-part-${i}.csv`)));
    assert.ok(parts[0]!.subarray(0, 3).equals(Buffer.from(BOM)), 'the first part keeps the BOM');
    assert.ok(!parts[1]!.toString().includes('processed_at'), 'a later part has no header');
    assert.equal(Buffer.concat(parts).toString('utf8'), whole.toString('utf8'));
    assert.ok(Buffer.concat(parts).equals(whole));

    const stats = chunks.map((_, i) => readJson(path.join(dir, `t-stats-${i}.json`)));
    const wholeStats = readJson(`${wholeOut}.json`);
    assert.deepEqual(JSON.parse(runs[0].stdout), wholeStats, 'the stats file is the stdout line');
    assert.deepEqual(sumCounts([wholeStats]), { rowsIn: 9, rowsOut: 9, rowsRejected: 0 });
    assert.deepEqual(sumCounts(stats), sumCounts([wholeStats]));
    assert.deepEqual(stats[1], {
      job: 'csv-transform',
      rowsIn: 1,
      rowsOut: 1,
      bareQuoteFields: 0,
      output: path.join(dir, 't-part-1.csv'),
      bytesIn: chunks[1]!.end - chunks[1]!.offset,
      range: { start: chunks[1]!.offset, end: chunks[1]!.end },
    });
    assert.equal(
      stats.reduce((n, s) => n + (s.bytesIn as number), 0),
      TRANSFORM_FILE.length,
    );
  });

  it('csv-validate: 3 chunks give the whole-file output and rejects; no threshold per chunk', async () => {
    const input = path.join(dir, 'validate.csv');
    fs.writeFileSync(input, VALIDATE_FILE);
    const { header, cuts } = referenceCuts(VALIDATE_FILE);
    const chunks = chunksAt(VALIDATE_FILE.length, [cuts[3]!, cuts[7]!]);
    const wholeOut = path.join(dir, 'v-whole.csv');
    // 5 of 11 rows are rejected: the whole file needs the threshold raised, the chunks ignore it.
    const runs = await Promise.all([
      runProcessor(['--job', 'csv-validate', input, wholeOut, '--stats', `${wholeOut}.json`], {
        MAX_REJECTED_PERCENT: '60',
      }),
      ...chunks.map((c, i) =>
        runProcessor([
          '--job',
          'csv-validate',
          input,
          path.join(dir, `v-part-${i}.csv`),
          ...chunkArgs(c, header),
          '--stats',
          path.join(dir, `v-stats-${i}.json`),
        ]),
      ),
    ]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const read = (name: string) => fs.readFileSync(path.join(dir, name));
    const parts = chunks.map((_, i) => read(`v-part-${i}.csv`));
    const rejects = chunks.map((_, i) => read(`v-part-${i}.rejects.csv`));
    assert.ok(Buffer.concat(parts).equals(read('v-whole.csv')), 'outputs');
    assert.equal(Buffer.concat(rejects).toString(), read('v-whole.rejects.csv').toString(), 'rejects');

    const stats = chunks.map((_, i) => readJson(path.join(dir, `v-stats-${i}.json`)));
    const wholeStats = readJson(`${wholeOut}.json`);
    assert.deepEqual(sumCounts(stats), sumCounts([wholeStats]));
    assert.deepEqual(sumCounts([wholeStats]), { rowsIn: 11, rowsOut: 6, rowsRejected: 5 });
    assert.equal(wholeStats.maxRejectedPercent, 60);
    assert.equal(wholeStats.range, undefined);
    const last = stats[2]!;
    assert.deepEqual(Object.keys(last), [
      'job',
      'schema',
      'maxRejectedPercent',
      'rowsIn',
      'rowsOut',
      'rowsRejected',
      'bareQuoteFields',
      'rejectsByRule',
      'columns',
      'totals',
      'rejects',
      'output',
      'bytesIn',
      'range',
    ]);
    assert.equal(last.maxRejectedPercent, 5, "the schema's limit, reported for the caller to apply");
    assert.deepEqual(last.range, { start: chunks[2]!.offset, end: VALIDATE_FILE.length });
    assert.equal(last.rejects, path.join(dir, 'v-part-2.rejects.csv'));
  });

  it('a broken quote in a later chunk: exit 65 naming the line of the file, nothing written', async () => {
    const input = path.join(dir, 'broken.csv');
    const head = `a,b\n${'1,2\n'.repeat(1000)}`;
    fs.writeFileSync(input, `${head}3,"x"y\n${'4,5\n'.repeat(10)}`);
    const { cuts } = referenceCuts(Buffer.from(head));
    const c = cuts[500]!;
    const out = path.join(dir, 'broken', 'part.csv');
    const res = await runProcessor([
      '--job',
      'csv-transform',
      input,
      out,
      ...chunkArgs({ ...c, end: fs.statSync(input).size }, 'a,b'),
      '--stats',
      path.join(dir, 'broken', 'stats.json'),
    ]);
    assert.equal(res.code, 65, res.stderr);
    assert.match(res.stderr, /broken\.csv: invalid CSV on line 1002: unexpected 'y' after the closing quote/);
    assert.equal(res.stdout, '');
    assert.deepEqual(fs.readdirSync(path.dirname(out)), [], 'no part, no stats');
  });

  it('csv-validate: a wrong --header is the header mismatch (exit 65) listing expected and found', async () => {
    const input = path.join(dir, 'validate-header.csv');
    fs.writeFileSync(input, VALIDATE_FILE);
    const { cuts } = referenceCuts(VALIDATE_FILE);
    const res = await runProcessor([
      '--job',
      'csv-validate',
      input,
      path.join(dir, 'header', 'part.csv'),
      ...chunkArgs({ ...cuts[2]!, end: VALIDATE_FILE.length }, 'transaction_id,account_id,amount'),
    ]);
    assert.equal(res.code, 65, res.stderr);
    assert.match(
      res.stderr,
      /header does not match schema "transactions": column 3 is "amount", expected "transaction_date"/,
    );
    assert.match(res.stderr, /Expected 7 columns: transaction_id, account_id, transaction_date, amount,/);
    assert.match(res.stderr, /Found 3: transaction_id, account_id, amount\./);
    assert.deepEqual(fs.readdirSync(path.join(dir, 'header')), []);
  });

  it('a range that does not end on a record boundary, or past the file: exit 78', async () => {
    const input = path.join(dir, 'short.csv');
    fs.writeFileSync(input, 'a,b\n1,2\n3,4\n');
    const [midRecord, beyond] = await Promise.all([
      runProcessor(['--job', 'csv-transform', input, path.join(dir, 'r1.csv'), '--range', '0-10']),
      runProcessor([
        '--job',
        'csv-transform',
        input,
        path.join(dir, 'r2.csv'),
        '--range',
        '8-20',
        '--header',
        'a,b',
      ]),
    ]);
    assert.equal(midRecord.code, 78, midRecord.stderr);
    assert.match(
      midRecord.stderr,
      /--range END=10 is not the end of a record of .*short\.csv: byte 9 is not a line feed/,
    );
    assert.equal(beyond.code, 78, beyond.stderr);
    assert.match(
      beyond.stderr,
      /the range \(--range\) does not fit the input: bytes 8-19 of .*short\.csv do not exist: it has 12 bytes/,
    );
    assert.equal(fs.existsSync(path.join(dir, 'r1.csv')), false);
  });

  it('chunk options that contradict each other are usage errors (exit 2)', async () => {
    const input = path.join(dir, 'usage.csv');
    fs.writeFileSync(input, 'a,b\n1,2\n');
    const out = path.join(dir, 'usage-out.csv');
    const cases: [string[], RegExp][] = [
      [['--range', '4-8'], /a chunk that starts after the header \(--range START=4\) needs --header/],
      [['--range', '0-8', '--header', 'a,b'], /--header must not be set for the chunk that starts at 0/],
      [['--range', '8-4', '--header', 'a,b'], /--range START \(8\) must be less than --range END \(4\)/],
      [['--range', 'x-4'], /--range "x-4" is not START-END/],
      [['--first-line', '3'], /--first-row and --first-line are only for a chunk/],
    ];
    const results = await Promise.all(
      cases.map(([args]) => runProcessor(['--job', 'csv-transform', input, out, ...args])),
    );
    results.forEach((res, i) => {
      assert.equal(res.code, 2, res.stderr);
      assert.match(res.stderr, cases[i]![1]);
    });
  });
});

describe('processor container mode: chunk variables', { concurrency: 2 }, () => {
  const base = {
    JOB: 'csv-validate',
    SOURCE_BUCKET: 'pipeline-input',
    OBJECT_KEY: 'in/file.csv',
    DEST_BUCKET: 'pipeline-output',
    DEST_KEY: 'staging/part-00001.csv',
    AWS_REGION: 'us-east-1',
    // Nothing listens here: every case must fail on its configuration before any request.
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
  };
  const cases: [string, Record<string, string>, RegExp][] = [
    ['only RANGE_START', { RANGE_START: '10' }, /RANGE_START and RANGE_END go together/],
    [
      'RANGE_START not below RANGE_END',
      { RANGE_START: '10', RANGE_END: '10', CSV_HEADER: 'a' },
      /RANGE_START \(10\) must be less than RANGE_END \(10\)/,
    ],
    [
      'RANGE_END not a number',
      { RANGE_START: '0', RANGE_END: 'ten' },
      /RANGE_END: .*\(got "ten"\)\. RANGE_END is the/,
    ],
    [
      'a later chunk without CSV_HEADER',
      { RANGE_START: '10', RANGE_END: '20' },
      /\(RANGE_START=10\) needs CSV_HEADER/,
    ],
    [
      'CSV_HEADER on the first chunk',
      { RANGE_START: '0', RANGE_END: '20', CSV_HEADER: 'a,b' },
      /CSV_HEADER must not be set for the chunk that starts at 0 \(RANGE_START=0\)/,
    ],
    [
      'FIRST_LINE on the first chunk',
      { RANGE_START: '0', RANGE_END: '20', FIRST_LINE: '4' },
      /FIRST_ROW and FIRST_LINE are 1 where the file starts/,
    ],
    [
      'a range for text-to-pdf',
      { JOB: 'text-to-pdf', RANGE_START: '0', RANGE_END: '20' },
      /RANGE_START and RANGE_END\) is for the CSV jobs only/,
    ],
    [
      'STATS_KEY equal to DEST_KEY',
      { STATS_KEY: base.DEST_KEY },
      /STATS_KEY \(staging\/part-00001\.csv\) must differ from DEST_KEY/,
    ],
  ];
  for (const [name, env, pattern] of cases) {
    it(`${name}: exit 78 naming the variable`, async () => {
      const res = await runProcessor([], { ...base, ...env });
      assert.equal(res.code, 78, res.stderr);
      assert.match(res.stderr, pattern);
    });
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

describe('processor container mode against S3 (moto): ranged reads, part metadata, stats objects', () => {
  let moto: ChildProcess | undefined;
  let s3: S3Client;
  let env: Record<string, string>;
  let etag: string;
  const input = 'pipeline-input';
  const output = 'pipeline-output';
  const key = 'in/transactions.csv';

  before(async () => {
    const port = await freePort();
    moto = spawn(ensureTools().motoPython, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
      stdio: 'ignore',
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (moto.exitCode !== null) throw new Error(`moto exited with code ${moto.exitCode}`);
      const ok = await fetch(`${endpoint}/moto-api/`).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error('moto was not ready after 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
    env = {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL: endpoint,
    };
    s3 = new S3Client({
      region: env.AWS_REGION,
      endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    });
    for (const bucket of [input, output]) await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const put = await s3.send(new PutObjectCommand({ Bucket: input, Key: key, Body: VALIDATE_FILE }));
    etag = put.ETag!.replace(/"/g, '');
  });
  after(async () => {
    s3?.destroy();
    if (moto && moto.exitCode === null) {
      const exited = new Promise((r) => moto!.once('exit', r));
      moto.kill('SIGTERM');
      await exited;
    }
  });

  const getText = async (k: string) =>
    (await s3.send(new GetObjectCommand({ Bucket: output, Key: k }))).Body!.transformToString('utf8');
  const head = (k: string) => s3.send(new HeadObjectCommand({ Bucket: output, Key: k }));

  it('chunks of a pinned object version concatenate to the whole-file output; stats written last', async () => {
    const { header, cuts } = referenceCuts(VALIDATE_FILE);
    const chunks = chunksAt(VALIDATE_FILE.length, [cuts[2]!, cuts[6]!]);
    const job = {
      ...env,
      JOB: 'csv-validate',
      SOURCE_BUCKET: input,
      OBJECT_KEY: key,
      SOURCE_ETAG: etag,
      DEST_BUCKET: output,
      PROCESSED_AT,
    };
    const runs = await Promise.all([
      runProcessor([], {
        ...job,
        DEST_KEY: 'outputs/whole.csv',
        REJECTS_KEY: 'rejects/whole.csv',
        STATS_KEY: 'stats/whole.json',
        MAX_REJECTED_PERCENT: '60',
      }),
      ...chunks.map((c, i) =>
        runProcessor([], {
          ...job,
          DEST_KEY: `staging/part-${i}.csv`,
          REJECTS_KEY: `staging/rejects-${i}.csv`,
          STATS_KEY: `staging/stats-${i}.json`,
          RANGE_START: String(c.offset),
          RANGE_END: String(c.end),
          FIRST_ROW: String(c.firstRow),
          FIRST_LINE: String(c.firstLine),
          ...(c.offset > 0 ? { CSV_HEADER: header } : {}),
        }),
      ),
    ]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    const parts = await Promise.all(chunks.map((_, i) => getText(`staging/part-${i}.csv`)));
    const rejects = await Promise.all(chunks.map((_, i) => getText(`staging/rejects-${i}.csv`)));
    assert.equal(parts.join(''), await getText('outputs/whole.csv'));
    assert.equal(rejects.join(''), await getText('rejects/whole.csv'));

    const stats = await Promise.all(
      chunks.map(
        async (_, i) => JSON.parse(await getText(`staging/stats-${i}.json`)) as Record<string, unknown>,
      ),
    );
    assert.deepEqual(sumCounts(stats), { rowsIn: 11, rowsOut: 6, rowsRejected: 5 });
    assert.deepEqual(stats[1]!.range, { start: chunks[1]!.offset, end: chunks[1]!.end });
    assert.equal(stats[1]!.output, `s3://${output}/staging/part-1.csv`);
    assert.equal(stats[1]!.rejects, `s3://${output}/staging/rejects-1.csv`);

    const part = await head('staging/part-1.csv');
    assert.equal(part.ContentType, 'text/csv; charset=utf-8');
    assert.deepEqual(part.Metadata, {
      [OUTPUT_METADATA.job]: 'csv-validate',
      [OUTPUT_METADATA.processedAt]: PROCESSED_AT,
      [OUTPUT_METADATA.sourceBucket]: input,
      [OUTPUT_METADATA.sourceKey]: key,
      [OUTPUT_METADATA.sourceEtag]: etag,
      [OUTPUT_METADATA.rangeStart]: String(chunks[1]!.offset),
      [OUTPUT_METADATA.rangeEnd]: String(chunks[1]!.end),
    });
    const statsObject = await head('staging/stats-1.json');
    assert.equal(statsObject.ContentType, 'application/json');
    assert.deepEqual(
      statsObject.Metadata,
      {
        ...part.Metadata,
        [OUTPUT_METADATA.rowsIn]: String(stats[1]!.rowsIn),
        [OUTPUT_METADATA.rowsOut]: String(stats[1]!.rowsOut),
        [OUTPUT_METADATA.rowsRejected]: String(stats[1]!.rowsRejected),
      },
      "a part is not copied to add its counts (the merged output gets the file's); its stats object has them",
    );

    const whole = await head('outputs/whole.csv');
    assert.equal(whole.Metadata?.[OUTPUT_METADATA.rowsIn], '11');
    assert.equal(whole.Metadata?.[OUTPUT_METADATA.rowsRejected], '5');
    assert.equal(whole.Metadata?.[OUTPUT_METADATA.rangeStart], undefined, 'no range on a whole-file output');
  });

  it('runs each job in its container\u2019s sandbox, worker threads included, writing nothing to local disk', async () => {
    // The sandbox has teeth: under it, a write to local disk is refused.
    const probe = spawnSync(
      process.execPath,
      [
        ...containerSandbox({}),
        '-e',
        `require('node:fs').writeFileSync(${JSON.stringify(path.join(os.tmpdir(), 'x'))}, '')`,
      ],
      { encoding: 'utf8' },
    );
    assert.notEqual(probe.status, 0);
    assert.match(probe.stderr, /ERR_ACCESS_DENIED/);

    // From 16 MiB csv-transform runs on worker threads; text-to-pdf loads its fonts.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sandbox-'));
    try {
      const big = path.join(dir, 'big.csv');
      await writeTransactions(big, 17 * 1024 * 1024, 3);
      await s3.send(new PutObjectCommand({ Bucket: input, Key: 'in/big.csv', Body: fs.readFileSync(big) }));
      await s3.send(new PutObjectCommand({ Bucket: input, Key: 'in/notes.txt', Body: 'Grüße\nline two\n' }));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const run = (JOB: string, OBJECT_KEY: string, DEST_KEY: string) =>
      runProcessor([], {
        ...env,
        JOB,
        SOURCE_BUCKET: input,
        OBJECT_KEY,
        DEST_BUCKET: output,
        DEST_KEY,
        PROCESSED_AT,
      });
    const runs = await Promise.all([
      run('csv-transform', 'in/big.csv', 'outputs/in/big.csv'),
      run('text-to-pdf', 'in/notes.txt', 'outputs/in/notes.txt.pdf'),
    ]);
    for (const r of runs) assert.equal(r.code, 0, r.stderr);
    assert.ok(((await head('outputs/in/big.csv')).ContentLength ?? 0) > 17 * 1024 * 1024);
    assert.equal((await head('outputs/in/notes.txt.pdf')).ContentType, 'application/pdf');
  });

  it('a ranged read is pinned to the notified version (exit 66), and must fit in it (exit 78)', async () => {
    const { header, cuts } = referenceCuts(VALIDATE_FILE);
    const job = {
      ...env,
      JOB: 'csv-transform',
      SOURCE_BUCKET: input,
      OBJECT_KEY: key,
      DEST_BUCKET: output,
      DEST_KEY: 'staging/pinned.csv',
      STATS_KEY: 'staging/pinned.json',
      RANGE_START: String(cuts[1]!.offset),
      CSV_HEADER: header,
    };
    const [stale, beyond] = await Promise.all([
      runProcessor([], {
        ...job,
        SOURCE_ETAG: '0123456789abcdef0123456789abcdef',
        RANGE_END: String(cuts[4]!.offset),
      }),
      runProcessor([], { ...job, SOURCE_ETAG: etag, RANGE_END: String(VALIDATE_FILE.length + 10) }),
    ]);
    assert.equal(stale.code, 66, stale.stderr);
    assert.match(stale.stderr, /changed since it was notified/);
    assert.equal(beyond.code, 78, beyond.stderr);
    assert.match(
      beyond.stderr,
      /the range \(RANGE_START and RANGE_END\) does not fit the input: .* it has \d+ bytes/,
    );
    await assert.rejects(head('staging/pinned.json'), 'no stats object after a failure');
  });
});

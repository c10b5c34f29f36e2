/**
 * Property-based fuzzing of every processor job on generated input: well-formed CSV in every dialect the jobs
 * read (quoted fields with separators, quotes and line breaks; LF, CRLF and both mixed; a BOM or none; blank
 * lines; ragged records; no final line end), near-CSV token soup (stray quotes and CRs), binary bytes, wide
 * encodings, very long lines, fields and words, and text in many scripts. For every input:
 *
 * - the job succeeds or fails as invalid input (exit code 65), nothing else;
 * - on success the output parses back: the CSV with csv-parse, the PDF with pdfjs;
 * - through the real processor process, the peak RSS stays under the bound processors/README.md documents.
 *
 * A failure prints fast-check's seed and the shrunk input; keep that input as a regression file under
 * test/fixtures/fuzz/ (named `<job>-<what>.<ext>`): every file there runs through the processor each time.
 * `FUZZ_SEED` replays a seed, `FUZZ_RUNS` scales the number of generated inputs.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'csv-parse/sync';
import type { BatchWriteItemCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import fc from 'fast-check';
import { JOB_NAMES, validatesRows, type JobName } from '../contract/jobs';
import { startStack, type Stack } from '../scripts/stack';
import { csvTransform } from '../processors/csv-transform';
import { csvValidate } from '../processors/csv-validate';
import { createRowLoader } from '../processors/dynamodb-load';
import { refuseWideEncodings } from '../csv/encoding';
import { FAILURES, InvalidInputError } from '../contract/failures';
import { loadSchema } from '../common/schema';
import { textToPdf } from '../processors/text-to-pdf';
import { runProcessorMeasured } from './support/peak-rss';
import { collector, pieces } from './support/streams';

const PROCESSED_AT = '2026-01-02T03:04:05.000Z';
/** The peak RSS in MiB each job stays under whatever its input, as README.md documents it. */
const PEAK_RSS_BOUND_MIB: Record<JobName, number> = {
  'csv-transform': 256,
  'csv-validate': 256,
  'csv-to-dynamodb': 256,
  'text-to-pdf': 512,
};
const SCHEMA = loadSchema(undefined, 'transactions');
const REGRESSIONS = path.join(__dirname, 'fixtures', 'fuzz');
const RUNS = Number(process.env.FUZZ_RUNS ?? 1);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const params = (numRuns: number): fc.Parameters<unknown> => ({
  numRuns: Math.max(1, Math.round(numRuns * RUNS)),
  includeErrorInReport: true,
  ...(SEED === undefined ? {} : { seed: SEED }),
});

// ---- generators ----------------------------------------------------------------------------------------

const LINE_ENDS = ['\n', '\r\n'] as const;
/** Characters that matter to CSV and to text layout, mixed with any code point. */
const TRICKY = fc.constantFrom(
  ',',
  '"',
  '\n',
  '\r\n',
  ' ',
  '\t',
  'é',
  'Ω',
  'Ж',
  '日本語',
  'עברית',
  'العربية',
  '😀',
  '\ufeff',
);
const fieldText = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 12 }) },
  {
    weight: 2,
    arbitrary: fc
      .array(fc.oneof(TRICKY, fc.string({ unit: 'grapheme', maxLength: 4 })), { maxLength: 6 })
      .map((a) => a.join('')),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) },
);

/** A field written as a CSV writer would: quoted (quotes doubled) when it must be, or when it likes. */
const csvField = fc
  .tuple(fieldText, fc.boolean())
  .map(([text, quoteAnyway]) =>
    quoteAnyway || /[",\r\n]/.test(text) || text.startsWith('\ufeff')
      ? `"${text.replaceAll('"', '""')}"`
      : text,
  );

/** Well-formed CSV in any of the dialects the jobs read. */
const wellFormedCsv = fc
  .record({
    bom: fc.boolean(),
    header: fc.array(csvField, { minLength: 1, maxLength: 6 }),
    records: fc.array(
      fc.record({
        fields: fc.array(csvField, { minLength: 1, maxLength: 8 }),
        end: fc.constantFrom(...LINE_ENDS),
        blankAfter: fc.nat(9).map((n) => n === 0),
      }),
      { maxLength: 30 },
    ),
    headerEnd: fc.constantFrom(...LINE_ENDS),
    finalEnd: fc.boolean(),
  })
  .map(({ bom, header, records, headerEnd, finalEnd }) => {
    let text = `${bom ? '\ufeff' : ''}${header.join(',')}${headerEnd}`;
    records.forEach((r, i) => {
      const last = i === records.length - 1;
      text += `${r.fields.join(',')}${last && !finalEnd ? '' : r.end}${r.blankAfter ? r.end : ''}`;
    });
    return Buffer.from(text, 'utf8');
  });

/** Rows for the sample schema: mostly valid values, some wrong, some quoted, some ragged. */
const transactionsCsv = fc
  .array(
    fc.record({
      fields: fc.tuple(
        fc.oneof(fc.constant('tx1'), fc.constant(''), csvField),
        fc.constantFrom('acct', '', '"a,b"'),
        fc.constantFrom('2025-01-31', '2025-02-29', '2024-02-29', 'yesterday', ''),
        fc.oneof(
          fc.constantFrom('12.50', '-0.5', '.5', '1e3', 'NaN', '99999999999999999999.99', ''),
          fc.integer().map(String),
        ),
        fc.constantFrom('EUR', 'USD', 'eur', 'EURO', ''),
        csvField,
        csvField,
      ),
      ragged: fc.constantFrom(0, 0, 0, -1, 1),
      end: fc.constantFrom(...LINE_ENDS),
    }),
    { maxLength: 40 },
  )
  .map((rows) => {
    const lines = rows.map(({ fields, ragged, end }) => {
      const cells: string[] = [...fields];
      if (ragged < 0) cells.pop();
      if (ragged > 0) cells.push('extra');
      return `${cells.join(',')}${end}`;
    });
    return Buffer.from(`${SCHEMA.columns.map((c) => c.name).join(',')}\n${lines.join('')}`, 'utf8');
  });

/** Near-CSV: separators, quotes, CRs and text in any order, which is mostly broken CSV. */
const tokenSoup = fc
  .array(
    fc.oneof(fc.constantFrom(',', '"', '""', '\n', '\r\n', '\r', 'a', 'é'), fc.string({ maxLength: 5 })),
    { maxLength: 80 },
  )
  .map((tokens) => Buffer.from(tokens.join(''), 'utf8'));

const binary = fc.uint8Array({ maxLength: 4096 }).map((bytes) => Buffer.from(bytes));

/** A text or CSV file re-encoded as UTF-16 or UTF-32, with or without a BOM. */
const wide = fc
  .tuple(fc.string({ minLength: 8, maxLength: 200 }), fc.constantFrom('utf16le', 'utf16be'), fc.boolean())
  .map(([text, encoding, bom]) => {
    const le = Buffer.from(`${bom ? '\ufeff' : ''}${text}`, 'utf16le');
    return encoding === 'utf16le' ? le : le.swap16();
  });

/** One very long line, field or word, of 8 KiB to 256 KiB. */
const longPiece = fc
  .tuple(
    fc.constantFrom('x', 'é', '日', '😀', 'a,', '"q""', 'word '),
    fc.integer({ min: 8192, max: 262144 }),
    fc.boolean(),
  )
  .map(([unit, bytes, quoted]) => {
    const body = unit.repeat(Math.ceil(bytes / Buffer.byteLength(unit)));
    return Buffer.from(quoted ? `h\n"${body.replaceAll('"', '""')}"\n` : `h\n${body}\n`, 'utf8');
  });

/** Text as people write it: lines in many scripts, tabs, blank lines, mixed line ends, control characters. */
const text = fc
  .array(
    fc.tuple(
      fc.array(
        fc.oneof(
          TRICKY,
          fc.string({ unit: 'grapheme', maxLength: 10 }),
          fc.string({ unit: 'binary', maxLength: 6 }),
        ),
        {
          maxLength: 20,
        },
      ),
      fc.constantFrom('\n', '\r\n', '\r'),
    ),
    { maxLength: 40 },
  )
  .map((lines) => Buffer.from(lines.map(([parts, end]) => `${parts.join(' ')}${end}`).join(''), 'utf8'));

/** What the validating jobs get: mostly rows of the schema, and everything else. */
const validatingInputs = fc.oneof(
  transactionsCsv,
  transactionsCsv,
  wellFormedCsv,
  tokenSoup,
  binary,
  wide,
  longPiece,
);
const INPUTS: Record<JobName, fc.Arbitrary<Buffer>> = {
  'csv-transform': fc.oneof(wellFormedCsv, wellFormedCsv, tokenSoup, binary, wide, longPiece),
  'csv-validate': validatingInputs,
  'csv-to-dynamodb': validatingInputs,
  'text-to-pdf': fc.oneof(text, text, binary, wide, longPiece, tokenSoup),
};

// ---- running a job in-process --------------------------------------------------------------------------

/** What a run left: the job's statistics and its outputs, or the error it failed with. */
type Run =
  | { ok: true; stats: Record<string, unknown>; output: Buffer; rejects?: Buffer }
  | { ok: false; error: unknown };

/** A DynamoDB table in memory that takes BatchWriteItem: the items by key, as DynamoDB would keep them. */
function memoryTable() {
  const items = new Map<string, unknown>();
  const client = {
    send: async (command: BatchWriteItemCommand) => {
      for (const { PutRequest } of command.input.RequestItems?.rows ?? []) {
        items.set(PutRequest!.Item!.transaction_id!.S!, PutRequest!.Item);
      }
      return {};
    },
  } as unknown as DynamoDBClient;
  return { client, items };
}

/** Runs `job` as the processor does (wide encodings refused first), in this process. */
async function runInProcess(job: JobName, input: Buffer, sizes: readonly number[]): Promise<Run> {
  let turn = 0;
  const source = refuseWideEncodings(
    pieces(input, () => sizes[turn++ % sizes.length]!),
    'fuzz-input',
  );
  const out = collector();
  try {
    if (job === 'csv-transform') {
      const stats = await csvTransform(source, out.stream, {
        processedAt: PROCESSED_AT,
        source: 'fuzz-input',
      });
      return { ok: true, stats: { ...stats }, output: out.bytes() };
    }
    if (job === 'csv-validate' || job === 'csv-to-dynamodb') {
      const rejects = collector();
      const table = memoryTable();
      const loader =
        job === 'csv-to-dynamodb'
          ? createRowLoader({ client: table.client, table: 'rows', schema: SCHEMA, objectKey: 'fuzz.csv' })
          : undefined;
      const stats = await csvValidate(source, out.stream, rejects.stream, {
        schema: SCHEMA,
        source: 'fuzz-input',
        maxRejectedPercent: 100,
        rows: loader?.rows,
      });
      const loaded = loader ? { dynamodb: await loader.close(), items: table.items } : {};
      return { ok: true, stats: { ...stats, ...loaded }, output: out.bytes(), rejects: rejects.bytes() };
    }
    const stats = await textToPdf(source, out.stream, { title: 'fuzz.txt', source: 'fuzz-input' });
    return { ok: true, stats: { ...stats }, output: out.bytes() };
  } catch (error) {
    return { ok: false, error };
  }
}

// ---- what every successful output must be ---------------------------------------------------------------

function parseCsv(bytes: Buffer): string[][] {
  const records: string[][] = parse(bytes, {
    bom: true,
    relax_column_count: true,
    skip_empty_lines: true,
    record_delimiter: ['\r\n', '\n'],
    // A quote inside an unquoted field is a character, for the jobs as for csv-parse with relax_quotes.
    relax_quotes: true,
  });
  return records;
}

/** The output of a successful run parses back and agrees with the run's counts. */
async function checkOutput(job: JobName, run: Extract<Run, { ok: true }>): Promise<void> {
  if (job === 'text-to-pdf') {
    const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
    const doc = await pdfjs.getDocument({ data: new Uint8Array(run.output), verbosity: 0 }).promise;
    try {
      assert.equal(doc.numPages, run.stats.pages, 'pdfjs counts the pages the job wrote');
    } finally {
      await doc.destroy();
    }
    return;
  }
  const records = parseCsv(run.output);
  const rowsOut = run.stats.rowsOut as number;
  assert.equal(records.length, rowsOut + (records.length > 0 ? 1 : 0), 'a header and one record per row out');
  if (job === 'csv-transform') {
    assert.equal(run.stats.rowsIn, rowsOut);
    records.forEach((r, i) => assert.equal(r.at(-1), i === 0 ? 'processed_at' : PROCESSED_AT));
    return;
  }
  assert.equal(run.stats.rowsIn, rowsOut + (run.stats.rowsRejected as number));
  assert.deepEqual(
    records[0],
    SCHEMA.columns.map((c) => c.name),
  );
  const rejects = parseCsv(run.rejects!);
  assert.deepEqual(rejects[0], ['row', 'line', 'column', 'rule', 'value', 'expected']);
  assert.ok(rejects.length - 1 >= (run.stats.rowsRejected as number), 'every rejected row has a line');
  if (job !== 'csv-to-dynamodb') return;
  // Each row out is an item, under its key: a later row of a key overwrites an earlier one.
  const keys = new Set(records.slice(1).map((r) => r[0]));
  const { itemsWritten } = run.stats.dynamodb as { itemsWritten: number };
  assert.ok(
    itemsWritten >= keys.size && itemsWritten <= rowsOut,
    `${itemsWritten} items for ${rowsOut} rows`,
  );
  const items = run.stats.items as Map<string, unknown> | undefined;
  if (items) assert.deepEqual(new Set(items.keys()), keys, 'one item per key of the rows out');
}

describe('fuzzing each job in-process: success or invalid input, and outputs that parse back', () => {
  for (const job of JOB_NAMES) {
    it(job, async () => {
      const sizes = fc.array(fc.integer({ min: 1, max: 70000 }), { minLength: 1, maxLength: 4 });
      await fc.assert(
        fc.asyncProperty(INPUTS[job], sizes, async (input, pieceSizes) => {
          const run = await runInProcess(job, input, pieceSizes);
          if (!run.ok) {
            if (run.error instanceof InvalidInputError) return;
            throw run.error;
          }
          await checkOutput(job, run);
        }),
        params(job === 'text-to-pdf' ? 40 : 150),
      );
    });
  }
});

// ---- through the processor process ---------------------------------------------------------------------

/** A generated file too large to print: fast-check shows how it was made instead of its bytes. */
class LargeInput {
  constructor(
    readonly bytes: Buffer,
    readonly recipe: string,
  ) {}

  [fc.toStringMethod](): string {
    return `${this.recipe} (${this.bytes.length} bytes)`;
  }
}

/** Larger inputs than in-process: what a file upload can really hold. */
const megabytes = (min: number, max: number) => fc.integer({ min: min * 2 ** 20, max: max * 2 ** 20 });
const repeat = (unit: Buffer, size: number) =>
  Buffer.concat(Array.from({ length: Math.ceil(size / Math.max(1, unit.length)) }, () => unit));
const bigCsv = fc.oneof(
  fc.tuple(wellFormedCsv, megabytes(1, 3)).map(([csv, size]) => {
    const records = csv.subarray(csv.indexOf(0x0a) + 1);
    const bytes = records.length === 0 ? csv : Buffer.concat([csv, repeat(records, size)]);
    return new LargeInput(bytes, `CSV ${JSON.stringify(csv.toString('utf8'))} with its records repeated`);
  }),
  fc.tuple(fc.constantFrom('x', 'é', '"', ','), megabytes(1, 4), fc.boolean()).map(([unit, size, quoted]) => {
    const body = unit.repeat(Math.ceil(size / Buffer.byteLength(unit)));
    const field = quoted ? `"${body.replaceAll('"', '""')}"` : body;
    return new LargeInput(
      Buffer.from(`h\n${field}\n`, 'utf8'),
      `a header and one ${quoted ? 'quoted ' : ''}field of ${JSON.stringify(unit)} repeated`,
    );
  }),
  fc
    .tuple(fc.uint8Array({ minLength: 1024, maxLength: 4096 }), megabytes(1, 2))
    .map(
      ([bytes, size]) =>
        new LargeInput(repeat(Buffer.from(bytes), size), `${bytes.length} random bytes repeated`),
    ),
);
const bigText = fc.oneof(
  fc
    .tuple(fc.constantFrom('x', 'é', '日', '😀', 'ש', 'ب'), megabytes(1, 2))
    .map(
      ([unit, size]) =>
        new LargeInput(
          repeat(Buffer.from(unit, 'utf8'), size),
          `one word of ${JSON.stringify(unit)} repeated`,
        ),
    ),
  fc
    .tuple(fc.uint8Array({ minLength: 4096, maxLength: 4096 }), megabytes(1, 5))
    .map(([bytes, size]) => new LargeInput(repeat(Buffer.from(bytes), size), '4096 random bytes repeated')),
  fc
    .tuple(text, fc.integer({ min: 1, max: 200 }))
    .map(
      ([t, copies]) =>
        new LargeInput(repeat(t, t.length * copies), `text ${JSON.stringify(t.toString('utf8'))} repeated`),
    ),
);
const bigValidatingInputs = fc.oneof(
  bigCsv,
  transactionsCsv.map((csv) => new LargeInput(csv, JSON.stringify(csv.toString('utf8')))),
);
const PROCESS_INPUTS: Record<JobName, fc.Arbitrary<LargeInput>> = {
  'csv-transform': bigCsv,
  'csv-validate': bigValidatingInputs,
  'csv-to-dynamodb': bigValidatingInputs,
  'text-to-pdf': bigText,
};

describe('fuzzing each job through the processor process: exit code, peak memory, outputs', () => {
  let dir: string;
  /** moto, with the stack's table, for csv-to-dynamodb. */
  let aws: Stack;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fuzz-'));
    aws = await startStack({ processes: false });
  });
  after(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await aws?.stop();
  });

  /** Runs the processor's CLI on `input` and checks everything a run must satisfy. */
  async function check(job: JobName, input: Buffer, name: string): Promise<void> {
    const file = path.join(dir, name);
    const output = path.join(dir, `${name}.out`);
    const rejectsFile = path.join(dir, `${name}.rejects.csv`);
    fs.writeFileSync(file, input);
    const args = ['--job', job, file, output, '--processed-at', PROCESSED_AT];
    if (validatesRows(job)) args.push('--rejects', rejectsFile);
    const res = await runProcessorMeasured(args, {
      MAX_REJECTED_PERCENT: '100',
      ...(job === 'csv-to-dynamodb' ? aws.env : {}),
    });
    try {
      assert.ok(
        res.code === 0 || res.code === FAILURES.invalidInput.exitCodes.EX_DATAERR,
        `exit code ${res.code}:\n${res.stderr}`,
      );
      assert.ok(
        res.peakRssMiB < PEAK_RSS_BOUND_MIB[job],
        `peak RSS ${res.peakRssMiB.toFixed(0)} MiB, over the bound of ${PEAK_RSS_BOUND_MIB[job]} MiB`,
      );
      if (res.code !== 0) {
        assert.equal(fs.existsSync(output), false, 'a failed run leaves no output');
        return;
      }
      await checkOutput(job, {
        ok: true,
        stats: JSON.parse(res.stdout.trim().split('\n').pop()!) as Record<string, unknown>,
        output: fs.readFileSync(output),
        ...(validatesRows(job) ? { rejects: fs.readFileSync(rejectsFile) } : {}),
      });
    } finally {
      for (const f of [file, output, rejectsFile]) fs.rmSync(f, { force: true });
    }
  }

  for (const job of JOB_NAMES) {
    it(job, async () => {
      let n = 0;
      await fc.assert(
        fc.asyncProperty(PROCESS_INPUTS[job], (input) => check(job, input.bytes, `${job}-${n++}`)),
        params(4),
      );
    });
  }

  it('replays every kept regression input', async () => {
    const kept = fs.readdirSync(REGRESSIONS).sort();
    assert.ok(kept.length > 0, `regression inputs in ${REGRESSIONS}`);
    for (const name of kept) {
      const job = JOB_NAMES.find((j) => name.startsWith(`${j}-`));
      assert.ok(job, `${name} starts with the name of its job`);
      await check(job, fs.readFileSync(path.join(REGRESSIONS, name)), name);
    }
  });
});

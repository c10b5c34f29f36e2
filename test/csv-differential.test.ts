/**
 * Differential test of the CSV engine (csv/scanner.ts, csv/fields.ts): the scanner, the field splitter and the
 * field decoder, fed in random chunk sizes, must read every file exactly as csv-parse does, record for
 * record and field for field, and fail on the same broken files, with each separator the jobs accept.
 *
 * csv-parse is configured for the engine's documented semantics: the same delimiter, LF or CRLF per record,
 * BOM skipped, blank lines skipped, ragged rows allowed, and `relax_quotes`: a quote inside an unquoted field
 * is a character. Two differences are deliberate. A character after a closing quote (`"ab"c`) stays an
 * error for the engine, as it is for csv-parse without `relax_quotes`, which is the reference for such files
 * (the generator makes them without bare quotes, which only `relax_quotes` reads). A CR outside quotes that
 * does not start a CRLF is an error for the engine and data for csv-parse: it is left out of the generated
 * files (the processor tests cover that error).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse/sync';
import type { CsvDelimiter } from '../contract/jobs';
import { FieldSplitter } from '../csv/fields';
import { CsvScanner, type CsvRecordHandler } from '../csv/scanner';
import { stripBom } from '../csv/streams';
import { seeded } from '../scripts/transactions';

const CSV_PARSE_OPTIONS = {
  bom: true,
  relax_column_count: true,
  skip_empty_lines: true,
  record_delimiter: ['\r\n', '\n'],
};

const DELIMITERS: readonly CsvDelimiter[] = [',', ';', '\t', '|'];

type Outcome = { records: string[][] } | { error: string };

/**
 * csv-parse's reading of `data`: with `relax_quotes`, unless csv-parse without it finds a character after a
 * closing quote, which the engine rejects. `relaxed`: only `relax_quotes` reads the file (it has bare quotes).
 */
function reference(data: Buffer, delimiter: CsvDelimiter = ','): Outcome & { relaxed?: true } {
  const read = (relax_quotes: boolean): Outcome => {
    try {
      return { records: parse(data, { ...CSV_PARSE_OPTIONS, delimiter, relax_quotes }) };
    } catch (err) {
      return { error: `${(err as { code?: string }).code}: ${(err as Error).message}` };
    }
  };
  const strict = read(false);
  if (!('error' in strict) || strict.error.startsWith('CSV_INVALID_CLOSING_QUOTE')) return strict;
  const relaxed = read(true);
  return 'error' in relaxed ? relaxed : { ...relaxed, relaxed: true };
}

/** The engine's reading of `data` delivered in chunks of the sizes `size()` returns. */
async function engine(data: Buffer, size: () => number, delimiter: CsvDelimiter): Promise<Outcome> {
  const records: string[][] = [];
  let pieces: Buffer[] = [];
  const counter = new FieldSplitter(0, delimiter);
  const handler: CsvRecordHandler = {
    partial(chunk, start, end) {
      pieces.push(chunk.subarray(start, end));
    },
    record(chunk, start, end) {
      const record = Buffer.concat([...pieces, chunk.subarray(start, end)]);
      pieces = [];
      const quoted = scanner.recordQuoted;
      const fields = new FieldSplitter(counter.split(record, 0, record.length, quoted), delimiter);
      fields.split(record, 0, record.length, quoted);
      records.push(Array.from({ length: fields.maxFields }, (_, k) => fields.text(record, k)));
    },
  };
  const scanner = new CsvScanner('generated.csv', handler, 1, delimiter);
  function* chunks() {
    for (let at = 0; at < data.length;) {
      const n = Math.max(1, size());
      yield data.subarray(at, at + n);
      at += n;
    }
  }
  try {
    for await (const chunk of stripBom(Readable.from(chunks()), () => undefined)) scanner.push(chunk);
    scanner.finish();
    return { records };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** Compares the engine with csv-parse on `data`, in 1-byte chunks, whole, and in random chunk sizes. */
async function agree(
  data: Buffer,
  rnd: () => number,
  label: string,
  delimiter: CsvDelimiter = ',',
): Promise<void> {
  const expected = reference(data, delimiter);
  const sizes: (() => number)[] = [
    () => 1,
    () => data.length,
    () => 1 + Math.floor(rnd() * 16),
    () => 1 + Math.floor(rnd() * 4096),
  ];
  for (const size of sizes) {
    const actual = await engine(data, size, delimiter);
    if ('error' in expected) {
      assert.ok('error' in actual, `${label}: csv-parse fails (${expected.error}), the engine does not`);
    } else {
      assert.ok(
        !('error' in actual),
        `${label}: the engine fails (${'error' in actual ? actual.error : ''})`,
      );
      // Record by record with a short message: a full diff of a large file takes node:test ages to print.
      const count = Math.max(actual.records.length, expected.records.length);
      for (let i = 0; i < count; i++) {
        const mine: string = JSON.stringify(actual.records[i]) ?? 'none';
        const theirs: string = JSON.stringify(expected.records[i]) ?? 'none';
        if (mine !== theirs) {
          assert.fail(
            `${label.slice(0, 300)}: record ${i}: engine ${mine.slice(0, 200)}, csv-parse ${theirs.slice(0, 200)}`,
          );
        }
      }
    }
  }
}

const FIXTURES = path.join(__dirname, 'fixtures');
const CORPUS = [
  ...fs
    .readdirSync(path.join(FIXTURES, 'csv'))
    .filter((f) => f.endsWith('.csv'))
    .map((f) => path.join(FIXTURES, 'csv', f)),
  ...fs
    .readdirSync(path.join(FIXTURES, 'validate', 'corpus'))
    .map((f) => path.join(FIXTURES, 'validate', 'corpus', f)),
  path.join(FIXTURES, 'validate', 'transactions.csv'),
  path.join(FIXTURES, 'validate', 'transactions.valid.csv'),
  path.join(FIXTURES, 'validate', 'transactions.rejects.csv'),
].sort();

describe('CSV engine and csv-parse agree', () => {
  it(`on the ${CORPUS.length} files of the corpus`, async () => {
    const rnd = seeded(7);
    for (const file of CORPUS) await agree(fs.readFileSync(file), rnd, path.relative(FIXTURES, file));
  });

  for (const delimiter of DELIMITERS) {
    it(`on 400 generated files separated by ${JSON.stringify(delimiter)}, with bare quotes, some broken`, async () => {
      const rnd = seeded(20260101 + delimiter.charCodeAt(0));
      let broken = 0;
      let bare = 0;
      for (let i = 0; i < 400; i++) {
        const text = generate(rnd, delimiter);
        const data = Buffer.from(text, 'utf8');
        const expected = reference(data, delimiter);
        if ('error' in expected) broken++;
        else if (expected.relaxed) bare++;
        await agree(data, rnd, `case ${i}: ${JSON.stringify(text)}`, delimiter);
      }
      // The generator must keep exercising both outcomes, and files that need relax_quotes.
      assert.ok(broken > 20 && broken < 200, `${broken} broken files out of 400`);
      assert.ok(bare > 20, `${bare} files with bare quotes`);
    });
  }

  it('on the examples of bare quotes, and on unclosed quotes', async () => {
    const rnd = seeded(3);
    for (const d of DELIMITERS) {
      for (const text of [
        `size${d}where\n12" pipe${d}37°36'37.8"N\n`,
        `a${d}b\nx""${d}"y"\n`,
        `a${d}b\n1${d}"open\n2${d}3\n`,
        `a${d}b\n1${d}"open${d}\n`,
      ]) {
        await agree(Buffer.from(text), rnd, JSON.stringify(text), d);
      }
    }
  });
});

/**
 * A random CSV text separated by `d`: optional BOM, LF and CRLF terminators mixed, blank lines, ragged rows,
 * empty, plain, non-ASCII and quoted fields holding the separator, doubled quotes, CR, LF and CRLF, fields
 * with bare quotes (`12" pipe`), a last record with or without a terminator, and now and then a break: a
 * character after a closing quote (in a file without bare quotes, see the top), or a quoted field left open.
 */
function generate(rnd: () => number, d: CsvDelimiter): string {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
  const others = DELIMITERS.filter((x) => x !== d).map((x) => `x${x}y`);
  const plain = () =>
    pick(['', 'a', 'plain text', ' spaced ', 'ÄÖÜ €', '日本', '😀', '0', '-1.5', '\ufeff', ...others]);
  const bareQuoted = () => pick([`${plain()}a"b`, '12" pipe', `37°36'37.8"N`, 'x""', 'y"', 'z"""q']);
  const quotedPart = () => pick(['', 'x', d, '""', '\n', '\r\n', '\r', ' ', 'é', `${d}""\n`]);
  const broken = rnd() < 0.15;
  const bare = !broken && rnd() < 0.4;
  const field = (): string => {
    if (bare && rnd() < 0.15) return bareQuoted();
    if (rnd() < 0.6) return plain();
    const inner = Array.from({ length: Math.floor(rnd() * 4) }, quotedPart).join('');
    return `"${inner}"`;
  };
  const breakage = () => pick([() => `"${plain()}"x`, () => `"x" `])();
  let text = rnd() < 0.2 ? '\ufeff' : '';
  const columns = 1 + Math.floor(rnd() * 5);
  const records = Math.floor(rnd() * 8);
  const breakAt = Math.floor(rnd() * Math.max(1, records));
  for (let r = 0; r < records; r++) {
    if (rnd() < 0.15) text += pick(['\n', '\r\n']);
    const n = rnd() < 0.25 ? 1 + Math.floor(rnd() * 6) : columns;
    const fields = Array.from({ length: n }, field);
    if (broken && r === breakAt) fields[Math.floor(rnd() * n)] = breakage();
    text += fields.join(d);
    if (r < records - 1 || rnd() < 0.7) text += pick(['\n', '\r\n']);
  }
  if (rnd() < 0.05) text += `"open${pick(['', d, '\n'])}`;
  return text;
}

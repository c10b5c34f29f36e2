/**
 * Processor tests: csv-transform against byte-exact fixtures, chunking, broken CSV and an independent
 * reference; the storage helpers; the CLI exit codes. text-to-pdf has test/text-to-pdf.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { csvTransform } from '../processors/csv-transform';
import { InputMissingError, InvalidInputError } from '../contract/failures';
import type { CsvDelimiter } from '../contract/jobs';
import { MAX_FIELD_BYTES } from '../csv/scanner';
import { RangeNotSatisfiableError, openInput, openOutput, parseLocation } from '../processors/object-io';
import { s3Metadata } from '../common/aws';
import { seeded } from '../scripts/transactions';
import { runProcessor } from './support/processor';
import { collector, pieces } from './support/streams';

const FIXTURES = path.join(__dirname, 'fixtures', 'csv');
const PROCESSED_AT = '2026-01-02T03:04:05.000Z';
const BOM = '\ufeff';

const FIXTURE_NAMES = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.csv') && !f.endsWith('.expected.csv'))
  .map((f) => f.slice(0, -'.csv'.length))
  .sort();

async function transform(data: Buffer, size: () => number = () => 65536, delimiter?: CsvDelimiter) {
  const { stream: sink, bytes } = collector();
  const result = await csvTransform(pieces(data, size), sink, {
    processedAt: PROCESSED_AT,
    source: 'test.csv',
    delimiter,
  });
  return { ...result, output: bytes() };
}

/**
 * Reference RFC 4180 reader, written for clarity rather than speed: records as field arrays, empty lines
 * skipped, LF or CRLF terminators.
 */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let fieldSeen = false;
  const endRecord = () => {
    if (fieldSeen || fields.length > 0) records.push([...fields, field]);
    fields = [];
    field = '';
    fieldSeen = false;
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch !== '"') field += ch;
      else if (text[i + 1] === '"') {
        field += '"';
        i++;
      } else quoted = false;
    } else if (ch === '"') {
      quoted = true;
      fieldSeen = true;
    } else if (ch === ',') {
      fields.push(field);
      field = '';
      fieldSeen = true;
    } else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      if (ch === '\r') i++;
      endRecord();
    } else {
      field += ch;
      fieldSeen = true;
    }
  }
  if (quoted) throw new Error('reference parser: unterminated quote');
  endRecord();
  return records;
}

const withoutBom = (text: string) => (text.startsWith(BOM) ? text.slice(1) : text);

describe('csvTransform fixtures', () => {
  for (const name of FIXTURE_NAMES) {
    it(`${name}: output equals ${name}.expected.csv`, async () => {
      const input = fs.readFileSync(path.join(FIXTURES, `${name}.csv`));
      const expected = fs.readFileSync(path.join(FIXTURES, `${name}.expected.csv`));
      const { output, rowsIn, rowsOut } = await transform(input);
      assert.equal(output.toString('utf8'), expected.toString('utf8'));
      assert.ok(output.equals(expected), 'output bytes differ from the expected file');
      const records = parseCsv(withoutBom(input.toString('utf8')));
      assert.equal(rowsIn, Math.max(0, records.length - 1));
      assert.equal(rowsOut, rowsIn);
    });

    it(`${name}: 1-byte and random chunks give the same output`, async () => {
      const input = fs.readFileSync(path.join(FIXTURES, `${name}.csv`));
      const expected = fs.readFileSync(path.join(FIXTURES, `${name}.expected.csv`));
      assert.ok((await transform(input, () => 1)).output.equals(expected), '1-byte chunks');
      for (let seed = 1; seed <= 20; seed++) {
        const rnd = seeded(seed);
        const { output } = await transform(input, () => 1 + Math.floor(rnd() * 7));
        assert.ok(output.equals(expected), `random chunks, seed ${seed}`);
      }
    });

    it(`${name}: reference reader sees the input records plus the timestamp`, async () => {
      const input = fs.readFileSync(path.join(FIXTURES, `${name}.csv`), 'utf8');
      const { output } = await transform(Buffer.from(input, 'utf8'));
      const expected = parseCsv(withoutBom(input)).map((r, i) => [
        ...r,
        i === 0 ? 'processed_at' : PROCESSED_AT,
      ]);
      assert.deepEqual(parseCsv(withoutBom(output.toString('utf8'))), expected);
    });
  }
});

describe('csvTransform on generated files', () => {
  /** A random CSV and the output the transform must produce, built side by side from the same records. */
  function generate(rnd: () => number): { input: string; expected: string; rows: number } {
    const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)]!;
    const field = () =>
      pick([
        () => '',
        () => 'plain',
        () => 'ÄÖÜ €',
        () => '"q"',
        () => '"a,b"',
        () => '"x""y"',
        () => '"line\nbreak"',
        () => '"cr\r\nlf"',
        () => '""""',
        () => '"\r"',
      ])();
    const fieldsPerRow = 1 + Math.floor(rnd() * 4);
    let input = rnd() < 0.2 ? BOM : '';
    let expected = input;
    let rows = -1;
    const count = Math.floor(rnd() * 8);
    for (let r = 0; r < count; r++) {
      if (rnd() < 0.2) input += pick(['\n', '\r\n']);
      const n = rnd() < 0.2 ? 1 + Math.floor(rnd() * 5) : fieldsPerRow;
      let record = Array.from({ length: n }, field).join(',');
      // A record whose only field is empty would be a blank line, which the transform drops.
      if (record === '') record = 'e';
      const last = r === count - 1;
      const terminator = last && rnd() < 0.3 ? '' : pick(['\n', '\r\n']);
      input += record + terminator;
      rows++;
      expected += `${record},${rows === 0 ? 'processed_at' : PROCESSED_AT}${terminator}`;
      if (terminator !== '' && last && rnd() < 0.2) input += '\n';
    }
    return { input, expected, rows: Math.max(0, rows) };
  }

  it('matches the expected bytes for 300 random files in random chunks', async () => {
    const rnd = seeded(42);
    for (let i = 0; i < 300; i++) {
      const { input, expected, rows } = generate(rnd);
      const chunk = i % 3 === 0 ? () => 1 : () => 1 + Math.floor(rnd() * 16);
      const { output, rowsIn } = await transform(Buffer.from(input, 'utf8'), chunk);
      assert.equal(output.toString('utf8'), expected, `case ${i}: ${JSON.stringify(input)}`);
      assert.equal(rowsIn, rows, `case ${i}: rowsIn`);
    }
  });

  it('quotes a processedAt value that needs quoting', async () => {
    const { stream: sink, bytes } = collector();
    await csvTransform(
      pieces(Buffer.from('a\n1\n'), () => 4),
      sink,
      { processedAt: 'x,"y"', source: 's' },
    );
    assert.equal(bytes().toString(), 'a,processed_at\n1,"x,""y"""\n');
  });
});

describe('csvTransform on broken CSV', () => {
  const cases: { name: string; input: string; line: number; pattern: RegExp }[] = [
    {
      name: 'unterminated quoted field',
      input: 'a,b\n1,2\n3,"open\nmore\n',
      line: 3,
      pattern: /unterminated/,
    },
    {
      name: 'a quote that opens a field and is never closed, after bare quotes',
      input: 'a,b\n1,ab"c\n2,12" pipe\n3,"open\n4,x\n',
      line: 4,
      pattern:
        /unterminated quoted field: the quote opened on this line is never closed \(the file ends on line 6\)/,
    },
    {
      name: 'an unquoted field over MAX_FIELD_BYTES',
      input: `a,b\n1,2\n3,${'x'.repeat(MAX_FIELD_BYTES + 1)}\n`,
      line: 3,
      pattern: new RegExp(`a field longer than ${MAX_FIELD_BYTES} bytes .*Split the value`),
    },
    {
      name: 'an unquoted field over MAX_FIELD_BYTES with fields after it',
      input: `a,b,c\n1,2,3\n3,${'x'.repeat(MAX_FIELD_BYTES + 1)},4\n5,6,7\n`,
      line: 3,
      pattern: new RegExp(`a field longer than ${MAX_FIELD_BYTES} bytes .*Split the value`),
    },
    {
      name: 'a quoted field over MAX_FIELD_BYTES, never closed',
      input: `a,b\n1,2\n3,"${'x\n'.repeat(MAX_FIELD_BYTES)}`,
      line: 3,
      pattern: new RegExp(
        `a field longer than ${MAX_FIELD_BYTES} bytes .*most likely its quote is never closed`,
      ),
    },
    {
      name: 'character after a closing quote',
      input: 'a,b\n1,"ab"c\n',
      line: 2,
      pattern: /'c' after the closing/,
    },
    {
      name: 'junk after a multi-line field',
      input: 'a\n"x\r\ny\nz"q\n',
      line: 4,
      pattern: /after the closing/,
    },
    { name: 'bare CR outside quotes', input: 'a,b\n1,2\r3,4\n', line: 2, pattern: /carriage return/ },
  ];
  for (const c of cases) {
    it(`${c.name}: InvalidInputError naming line ${c.line}`, async () => {
      // 1-byte pieces of a long field would take long: 4099 breaks it at other places, and one piece not at all.
      for (const size of c.input.length > MAX_FIELD_BYTES ? [65536, 4099, c.input.length] : [65536, 1, 3]) {
        await assert.rejects(
          transform(Buffer.from(c.input), () => size),
          (err: unknown) => {
            assert.ok(err instanceof InvalidInputError, `expected InvalidInputError, got ${String(err)}`);
            assert.match(err.message, new RegExp(`^test\\.csv: invalid CSV on line ${c.line}: `));
            assert.match(err.message, c.pattern);
            return true;
          },
        );
      }
    });
  }
});

describe('csvTransform dialects', () => {
  it('reads a quote inside an unquoted field literally, and counts such fields once each', async () => {
    const input = 'size,where\n12" pipe,"37°36\'37.8""N"\n3/4"" x 2",37°36\'37.8"N\n"q",plain\n';
    for (const size of [65536, 1, 2, 5]) {
      const { output, rowsIn, bareQuoteFields } = await transform(Buffer.from(input), () => size);
      assert.equal(
        output.toString(),
        `size,where,processed_at\n12" pipe,"37°36'37.8""N",${PROCESSED_AT}\n3/4"" x 2",37°36'37.8"N,${PROCESSED_AT}\n"q",plain,${PROCESSED_AT}\n`,
      );
      assert.equal(rowsIn, 3);
      assert.equal(bareQuoteFields, 3, `chunks of ${size}`);
    }
  });

  it('a field of exactly MAX_FIELD_BYTES is read, quoted or not', async () => {
    const value = 'x'.repeat(MAX_FIELD_BYTES);
    const input = `a,b\n1,${value}\n2,"${value}"\n`;
    const { rowsIn } = await transform(Buffer.from(input), () => 65536);
    assert.equal(rowsIn, 2);
  });

  for (const [delimiter, name] of [
    [';', 'semicolon'],
    ['\t', 'tab'],
    ['|', 'pipe'],
  ] as const) {
    it(`separates fields with a ${name}: the new column too, and quoted separators stay data`, async () => {
      const d = delimiter;
      const input = `a${d}b\n1${d}"x${d}y"\n2,3${d}4" z\n`;
      for (const size of [65536, 1, 3]) {
        const { output, bareQuoteFields } = await transform(Buffer.from(input), () => size, d);
        assert.equal(
          output.toString(),
          `a${d}b${d}processed_at\n1${d}"x${d}y"${d}${PROCESSED_AT}\n2,3${d}4" z${d}${PROCESSED_AT}\n`,
        );
        assert.equal(bareQuoteFields, 1);
      }
    });
  }
});

describe('storage', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'processors-storage-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('parses locations', () => {
    assert.deepEqual(parseLocation('s3://bucket/a/b.csv'), { kind: 's3', bucket: 'bucket', key: 'a/b.csv' });
    assert.deepEqual(parseLocation('data/in.csv'), { kind: 'file', path: 'data/in.csv' });
    assert.throws(() => parseLocation('s3://bucket-only'), /not a valid S3 URI/);
  });

  it('encodes non-ASCII metadata values', () => {
    assert.deepEqual(s3Metadata({ key: 'inbox/a b.csv', name: 'ü' }), {
      key: 'inbox/a b.csv',
      name: `=?UTF-8?B?${Buffer.from('ü').toString('base64')}?=`,
    });
  });

  it('reports a missing local input as InputMissingError', async () => {
    await assert.rejects(openInput({ kind: 'file', path: path.join(dir, 'nope.csv') }), InputMissingError);
  });

  it('reads a byte range of a local file, and refuses one past its end', async () => {
    const file = path.join(dir, 'range.csv');
    fs.writeFileSync(file, 'a,b\n1,2\n3,4\n');
    const opened = await openInput({ kind: 'file', path: file }, undefined, { start: 4, end: 8 });
    const parts: Buffer[] = [];
    for await (const chunk of opened.stream) parts.push(chunk as Buffer);
    assert.equal(Buffer.concat(parts).toString(), '1,2\n');
    assert.equal(opened.contentLength, 4);
    assert.equal(opened.size, 12);
    await assert.rejects(
      openInput({ kind: 'file', path: file }, undefined, { start: 8, end: 13 }),
      (err: unknown) =>
        err instanceof RangeNotSatisfiableError && /bytes 8-12 of .* it has 12 bytes/.test(err.message),
    );
  });

  it('writes a local output only when it is complete', async () => {
    const target = path.join(dir, 'sub', 'out.csv');
    const out = await openOutput({ kind: 'file', path: target }, { contentType: 'text/csv', metadata: {} });
    out.stream.write('partial');
    assert.equal(fs.existsSync(target), false);
    out.stream.end(' and done');
    assert.deepEqual(await out.done, { bytes: 'partial and done'.length });
    assert.equal(fs.readFileSync(target, 'utf8'), 'partial and done');

    const failed = await openOutput(
      { kind: 'file', path: target },
      { contentType: 'text/csv', metadata: {} },
    );
    failed.stream.write('garbage');
    await failed.abort();
    assert.equal(fs.readFileSync(target, 'utf8'), 'partial and done', 'an aborted output keeps the old file');
    assert.deepEqual(fs.readdirSync(path.dirname(target)), ['out.csv'], 'no temporary file left');
  });
});

describe('processor CLI', { concurrency: 2 }, () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'processors-cli-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('transforms a CSV file: exit 0, expected output, JSON report', async () => {
    const out = path.join(dir, 'ok', 'quoted.out.csv');
    const res = await runProcessor([
      '--job',
      'csv-transform',
      path.join(FIXTURES, 'quoted.csv'),
      out,
      '--processed-at',
      PROCESSED_AT,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(path.join(FIXTURES, 'quoted.expected.csv'))));
    const report = JSON.parse(res.stdout.trim()) as Record<string, unknown>;
    assert.deepEqual(report, {
      job: 'csv-transform',
      rowsIn: 6,
      rowsOut: 6,
      bareQuoteFields: 0,
      output: out,
      bytesIn: fs.statSync(path.join(FIXTURES, 'quoted.csv')).size,
    });
  });

  it('converts a text file to PDF', async () => {
    const input = path.join(dir, 'notes.txt');
    const text = 'Grüße\nline two\n';
    fs.writeFileSync(input, text);
    const out = path.join(dir, 'notes.pdf');
    const res = await runProcessor(['--job', 'text-to-pdf', input, out]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal(fs.readFileSync(out).subarray(0, 5).toString('latin1'), '%PDF-');
    assert.deepEqual(JSON.parse(res.stdout.trim()), {
      job: 'text-to-pdf',
      linesIn: 2,
      pages: 1,
      output: out,
      bytesIn: Buffer.byteLength(text),
    });
  });

  it('broken CSV: exit 65 naming the line, no output left', async () => {
    const input = path.join(dir, 'broken.csv');
    fs.writeFileSync(input, `a,b\n${'1,2\n'.repeat(1000)}3,"x\n`);
    const out = path.join(dir, 'broken', 'out.csv');
    const res = await runProcessor(['--job', 'csv-transform', input, out]);
    assert.equal(res.code, 65, res.stderr);
    assert.match(res.stderr, /broken\.csv: invalid CSV on line 1002: unterminated quoted field/);
    assert.equal(res.stdout, '');
    assert.deepEqual(
      fs.readdirSync(path.dirname(out)),
      [],
      'neither the output nor a temporary file is left',
    );
  });

  it('missing input: exit 66', async () => {
    const res = await runProcessor([
      '--job',
      'csv-transform',
      path.join(dir, 'absent.csv'),
      path.join(dir, 'x.csv'),
    ]);
    assert.equal(res.code, 66, res.stderr);
    assert.match(res.stderr, /absent\.csv does not exist/);
  });

  it('unknown job: exit 65 listing the known jobs', async () => {
    const res = await runProcessor(['--job', 'resize-image', 'in.png', 'out.png']);
    assert.equal(res.code, 65, res.stderr);
    assert.match(res.stderr, /unknown job "resize-image"; known jobs: csv-transform, text-to-pdf/);
  });

  it('usage error: exit 2 with the usage line', async () => {
    const res = await runProcessor(['--job', 'csv-transform', 'only-one-argument.csv']);
    assert.equal(res.code, 2, res.stderr);
    assert.match(res.stderr, /usage: npm run process -- --job/);
  });

  it('container mode without its environment: exit 78 naming the variables', async () => {
    const res = await runProcessor([]);
    assert.equal(res.code, 78, res.stderr);
    assert.match(res.stderr, /SOURCE_BUCKET/);
    assert.match(res.stderr, /DEST_KEY/);
  });
});

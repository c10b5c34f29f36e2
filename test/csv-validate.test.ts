/**
 * The csv-validate job: byte-exact fixtures in any chunking, every rule, exact statistics, the header and
 * threshold failures, the schema file, the CLI contract (exit codes, files, stats line) and agreement with
 * the Python peer of the benchmark on a generated transactions file.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { chooseJob, outputKeyFor } from '../contract/jobs';
import { REJECTS_HEADER, RejectThresholdError, csvValidate } from '../processors/csv-validate';
import { MAX_RECORD_BYTES } from '../processors/csv-record-validator';
import { InvalidInputError } from '../contract/failures';
import { loadSchema, parseSchema, type CsvSchema } from '../common/schema';
import { runProcessor } from './support/processor';
import { collector, pieces } from './support/streams';

const ROOT = path.resolve(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures', 'validate');
const PEERS = path.resolve(ROOT, '..', 'shared', 'bench', 'peers');
const TRANSACTIONS = loadSchema(undefined);

async function validate(data: Buffer | string, schema: CsvSchema, size = 65536, maxRejectedPercent = 100) {
  const out = collector();
  const rejects = collector();
  const result = await csvValidate(pieces(data, size), out.stream, rejects.stream, {
    schema,
    source: 'in.csv',
    maxRejectedPercent,
  });
  return { result, output: out.bytes(), rejects: rejects.text() };
}

/** A schema from its columns, checked like one from the schema file. */
function schemaOf(columns: unknown[], extra: Record<string, unknown> = {}): CsvSchema {
  return parseSchema({ schemas: { test: { columns, ...extra } } }, 'test.json', 'test');
}

/** The rejects file as [row, column, rule, value] tuples. */
function failures(rejects: string): string[][] {
  const [header, ...lines] = parse(rejects);
  assert.deepEqual(header, ['row', 'line', 'column', 'rule', 'value', 'expected']);
  return lines.map(([row, , column, rule, value]) => [row!, column!, rule!, value!]);
}

describe('csvValidate on the transactions fixture', () => {
  const input = fs.readFileSync(path.join(FIXTURES, 'transactions.csv'));
  const valid = fs.readFileSync(path.join(FIXTURES, 'transactions.valid.csv'));
  const rejects = fs.readFileSync(path.join(FIXTURES, 'transactions.rejects.csv'), 'utf8');

  for (const size of [input.length, 1, 2, 3, 7, 64]) {
    it(`${size}-byte chunks: valid records as found, one rejects line per failed check`, async () => {
      const res = await validate(input, TRANSACTIONS, size);
      assert.ok(res.output.equals(valid), `output:\n${res.output.toString()}`);
      assert.equal(res.rejects, rejects);
    });
  }

  it('reports counts and exact statistics of the valid records', async () => {
    const { result } = await validate(input, TRANSACTIONS);
    assert.deepEqual(result, {
      schema: 'transactions',
      maxRejectedPercent: 100,
      rowsIn: 10,
      rowsOut: 4,
      rowsRejected: 6,
      bareQuoteFields: 0,
      rejectsByRule: { date: 2, decimal: 3, currency: 1, required: 1, field_count: 2 },
      columns: {
        amount: { count: 4, sum: '100000000000000018.99', min: '-0.5', max: '99999999999999999.99' },
      },
      totals: {
        amount: {
          CHF: { count: 1, sum: '7' },
          EUR: { count: 1, sum: '99999999999999999.99' },
          GBP: { count: 1, sum: '-0.5' },
          USD: { count: 1, sum: '12.50' },
        },
      },
    });
  });
});

describe('csvValidate rules', () => {
  const schema = schemaOf([
    { name: 'id', type: 'integer', required: true },
    { name: 'price', type: 'decimal', totalsBy: 'kind' },
    { name: 'kind', type: 'enum', values: ['a', 'b', 'ü'] },
    { name: 'cur', type: 'currency', codes: ['EUR', 'USD'] },
    { name: 'day', type: 'date' },
    { name: 'note', type: 'string', required: true },
  ]);
  const header = 'id,price,kind,cur,day,note\n';

  it('accepts what each type allows, empty optional values included', async () => {
    const rows = [
      '1,1.5,a,EUR,2024-02-29,x',
      '+2,-.5,ü,USD,2000-02-29,"quoted, ""note"""',
      '-3,7.,b,,0001-01-31,y',
      '"4",,,,,z',
      '005,"+0.25",a,EUR,2025-12-31,"multi\nline"',
    ];
    const { result, output } = await validate(header + rows.join('\n') + '\n', schema);
    assert.equal(result.rowsRejected, 0, JSON.stringify(result.rejectsByRule));
    assert.equal(output.toString(), header + rows.join('\n') + '\n');
  });

  it('rejects each broken value with its rule, all failures of a row listed', async () => {
    const rows = [
      '1.5,x,c,GBP,2023-02-29,n', // integer, decimal, enum, currency (not listed), date (not a leap year)
      ',1e3,A,usd,2025-04-31,', // required id, decimal exponent, enum is case-sensitive, currency, date, required note
      '7,NaN,a,EUR,2025-1-01,n', // decimal NaN, date without zero padding
      '8, 1,a,EUR,2025-01-01 ,n', // no spaces around numbers or dates
      '9,1,a,EUR,2025-01-01', // field_count
    ];
    const { result, rejects } = await validate(header + rows.join('\r\n'), schema);
    assert.equal(result.rowsIn, 5);
    assert.equal(result.rowsRejected, 5);
    assert.deepEqual(failures(rejects), [
      ['1', 'id', 'integer', '1.5'],
      ['1', 'price', 'decimal', 'x'],
      ['1', 'kind', 'enum', 'c'],
      ['1', 'cur', 'currency', 'GBP'],
      ['1', 'day', 'date', '2023-02-29'],
      ['2', 'id', 'required', ''],
      ['2', 'price', 'decimal', '1e3'],
      ['2', 'kind', 'enum', 'A'],
      ['2', 'cur', 'currency', 'usd'],
      ['2', 'day', 'date', '2025-04-31'],
      ['2', 'note', 'required', ''],
      ['3', 'price', 'decimal', 'NaN'],
      ['3', 'day', 'date', '2025-1-01'],
      ['4', 'price', 'decimal', ' 1'],
      ['4', 'day', 'date', '2025-01-01 '],
      ['5', '', 'field_count', '9,1,a,EUR,2025-01-01'],
    ]);
    assert.match(rejects, /^5,6,,field_count,"9,1,a,EUR,2025-01-01","6 fields, found 5"$/m);
    assert.match(rejects, /^1,2,cur,currency,GBP,one of EUR USD$/m);
  });

  it('names the line a record starts on, after multi-line records and blank lines', async () => {
    const data = `${header}1,1,a,EUR,2025-01-01,"two\nlines"\n\n\nx,1,a,EUR,2025-01-01,n\n`;
    const { rejects } = await validate(data, schema);
    assert.equal(rejects, `${REJECTS_HEADER}2,6,id,integer,x,an integer such as -42\n`);
  });

  it('sums exactly past 2^53 and across scales, min and max exact', async () => {
    const prices = [
      '9007199254740993',
      '0.1',
      '0.2',
      '-0.30',
      '12345678901234567890.123456789',
      '-1e0',
      '-2',
    ];
    const data = header + prices.map((p, i) => `${i},${p},${i % 2 ? 'a' : 'b'},EUR,,n`).join('\n');
    const { result } = await validate(data, schema);
    assert.equal(result.rowsOut, 6);
    assert.deepEqual(result.columns, {
      id: { count: 6, sum: '16', min: '0', max: '6' },
      price: {
        count: 6,
        sum: '12354686100489308881.123456789',
        min: '-2',
        max: '12345678901234567890.123456789',
      },
    });
    assert.deepEqual(result.totals, {
      price: {
        a: { count: 2, sum: '-0.20' },
        b: { count: 4, sum: '12354686100489308881.323456789' },
      },
    });
  });

  it('rejects a record longer than MAX_RECORD_BYTES without holding it, and goes on', async () => {
    // Its fields are short: only the record is over the limit.
    const long = `1,1,a,EUR,2025-01-01,${'x,'.repeat(MAX_RECORD_BYTES / 2)}\n`;
    const data = `${header}${long}2,1,a,EUR,2025-01-01,ok\n`;
    const { result, output, rejects } = await validate(data, schema, 256 * 1024);
    assert.equal(result.rowsIn, 2);
    assert.equal(result.rowsOut, 1);
    assert.equal(output.toString(), `${header}2,1,a,EUR,2025-01-01,ok\n`);
    const [line] = failures(rejects);
    assert.deepEqual(line?.slice(0, 3), ['1', '', 'record_too_long']);
    assert.ok(rejects.length < 4096, 'the value in the rejects file is cut');
  });
});

describe('csvValidate failures', () => {
  const expectInvalid = (pattern: RegExp) => (err: unknown) => {
    assert.ok(err instanceof InvalidInputError, String(err));
    assert.match(err.message, pattern);
    return true;
  };

  it('a header other than the schema fails, listing expected and found columns', async () => {
    const data = 'transaction_id,account,transaction_date,amount\n1,2,3,4\n';
    await assert.rejects(
      validate(data, TRANSACTIONS),
      expectInvalid(
        /^in\.csv: the header does not match schema "transactions": column 2 is "account", expected "account_id"\. Expected 7 columns: transaction_id, account_id, transaction_date, amount, currency, merchant, category\. Found 4: transaction_id, account, transaction_date, amount\.$/,
      ),
    );
    const extra = 'transaction_id,account_id,transaction_date,amount,currency,merchant,category,x\n';
    await assert.rejects(
      validate(extra, TRANSACTIONS),
      expectInvalid(/1 extra column\(s\) after the last one/),
    );
    const quoted = '"transaction_id","account_id",transaction_date,amount,currency,merchant,"category"\n';
    assert.equal((await validate(quoted, TRANSACTIONS)).result.rowsIn, 0, 'quoted names match');
  });

  for (const [name, data] of [
    ['empty', ''],
    ['BOM-only', '\ufeff'],
    ['blank-lines-only', '\n\r\n'],
  ] as const) {
    it(`${name} file: fails, it has no header`, async () => {
      await assert.rejects(
        validate(data, TRANSACTIONS),
        expectInvalid(/^in\.csv: no header: the file is empty/),
      );
    });
  }

  it('broken CSV fails with its line, and both outputs are destroyed', async () => {
    const out = collector();
    const rejects = collector();
    const data = 'transaction_id,account_id,transaction_date,amount,currency,merchant,category\n1,2,"x"y\n';
    await assert.rejects(
      csvValidate(pieces(data, 5), out.stream, rejects.stream, { schema: TRANSACTIONS, source: 'in.csv' }),
      expectInvalid(/^in\.csv: invalid CSV on line 2: unexpected 'y' after the closing quote/),
    );
    assert.ok(out.stream.destroyed && rejects.stream.destroyed);
  });

  it('too many rejects fail the file after reading all of it: output destroyed, rejects complete', async () => {
    const head = 'transaction_id,account_id,transaction_date,amount,currency,merchant,category\n';
    const good = 'tx,acct,2025-01-01,1.00,EUR,m,c\n';
    const bad = 'tx,acct,2025-01-01,x,EUR,m,c\n';
    const data = head + good.repeat(94) + bad.repeat(6);
    for (const [limit, fails] of [
      [undefined, true], // the schema's 5%
      [6, false], // exactly at the limit passes
      [5.99, true],
    ] as const) {
      const out = collector();
      const rejects = collector();
      const run = csvValidate(pieces(data, 100), out.stream, rejects.stream, {
        schema: TRANSACTIONS,
        source: 'in.csv',
        maxRejectedPercent: limit,
        rejectsName: 'r.csv',
      });
      if (!fails) {
        assert.equal((await run).rowsRejected, 6);
        continue;
      }
      await assert.rejects(run, (err: unknown) => {
        assert.ok(err instanceof RejectThresholdError);
        assert.match(
          err.message,
          new RegExp(
            `^in\\.csv: 6 of 100 rows \\(6\\.00%\\) were rejected, more than the ${limit ?? 5}% allowed .*Failed checks: decimal 6\\. No output was written; the rejects file r\\.csv lists every failure\\.$`,
          ),
        );
        return true;
      });
      assert.ok(out.stream.destroyed, 'the output is destroyed');
      assert.ok(rejects.stream.writableFinished, 'the rejects file is complete');
      assert.equal(failures(rejects.text()).length, 6);
    }
  });
});

describe('schema file', () => {
  const file = (schemas: unknown, extra: Record<string, unknown> = {}) => ({ schemas, ...extra });
  const invalid = (content: unknown, pattern: RegExp, name?: string) =>
    assert.throws(
      () => parseSchema(content, 's.json', name),
      (err: unknown) => {
        assert.ok(err instanceof Error && err.name === 'ConfigError', String(err));
        assert.match(err.message, pattern);
        return true;
      },
    );

  it('the built-in schema is the transactions file of the benchmark', () => {
    assert.deepEqual(
      TRANSACTIONS.columns.map((c) => `${c.name}:${c.type}${c.required ? '!' : ''}`),
      [
        'transaction_id:string!',
        'account_id:string!',
        'transaction_date:date!',
        'amount:decimal!',
        'currency:currency!',
        'merchant:string',
        'category:string',
      ],
    );
    assert.equal(TRANSACTIONS.maxRejectedPercent, 5);
  });

  it('is checked: types, options, unique names, totalsBy, default, schema names', () => {
    const col = (c: Record<string, unknown>) => file({ s: { columns: [{ name: 'a', ...c }] } });
    invalid(col({ type: 'float' }), /columns\.0\.type/);
    invalid(col({ type: 'enum' }), /columns\.0\.values/);
    invalid(col({ type: 'currency', codes: ['usd'] }), /3 upper-case letters/);
    invalid(col({ type: 'string', codes: ['USD'] }), /Unrecognized key/);
    invalid(col({ type: 'decimal', totalsBy: 'a' }), /totalsBy must name a currency or enum column/);
    invalid(
      file({
        s: {
          columns: [
            { name: 'a', type: 'string' },
            { name: 'a', type: 'string' },
          ],
        },
      }),
      /column names must be unique/,
    );
    invalid(file({ s: { columns: [{ name: 'a', type: 'string' }] } }, { default: 'x' }), /default must name/);
    invalid(file({ s: { columns: [{ name: 'a', type: 'string' }] } }), /no default schema/);
    invalid(
      file({ s: { columns: [{ name: 'a', type: 'string' }] } }),
      /schema "t" is not in s\.json; it has s/,
      't',
    );
    invalid(file({ s: { columns: [], maxRejectedPercent: 101 } }), /maxRejectedPercent/);
  });

  it('an unreadable file is a configuration error', () => {
    assert.throws(
      () => loadSchema(path.join(os.tmpdir(), 'no-such-schemas.json')),
      /cannot read the schema file/,
    );
  });
});

describe('csv-validate job selection', () => {
  it('is chosen by job metadata, else by a schema the metadata names that has a table, and writes a .csv output', () => {
    const named = { name: 'transactions', named: true, loadsTable: true };
    assert.equal(chooseJob('in/a.csv', undefined, undefined), 'csv-transform');
    assert.equal(chooseJob('in/a.csv', 'csv-validate', undefined), 'csv-validate');
    // The default schema, even with a table, leaves a .csv to csv-transform: only one the object names loads it.
    assert.equal(chooseJob('in/a.csv', undefined, { ...named, named: false }), 'csv-transform');
    assert.equal(chooseJob('in/a.csv', undefined, named), 'csv-to-dynamodb');
    assert.equal(chooseJob('in/a.csv', undefined, { ...named, loadsTable: false }), 'csv-transform');
    assert.equal(chooseJob('in/a.csv', 'csv-validate', named), 'csv-validate');
    assert.equal(outputKeyFor('in/a.csv', 'csv-validate'), 'outputs/in/a.csv');
  });
});

describe('csv-validate CLI', { concurrency: 2 }, () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csv-validate-cli-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Writes a schema file whose default schema (a integer, b string) separates its fields with `;`. */
  function semicolonSchemas(name: string): string {
    const schemas = path.join(dir, name);
    const columns = [
      { name: 'a', type: 'integer' },
      { name: 'b', type: 'string' },
    ];
    fs.writeFileSync(
      schemas,
      JSON.stringify({ default: 'semi', schemas: { semi: { delimiter: ';', columns } } }),
    );
    return schemas;
  }

  const fixture = path.join(FIXTURES, 'transactions.csv');

  it('exit 0: valid records, rejects next to the output, one JSON stats line', async () => {
    const out = path.join(dir, 'ok', 'out.csv');
    const res = await runProcessor(['--job', 'csv-validate', fixture, out], { MAX_REJECTED_PERCENT: '60' });
    assert.equal(res.code, 0, res.stderr);
    assert.ok(fs.readFileSync(out).equals(fs.readFileSync(path.join(FIXTURES, 'transactions.valid.csv'))));
    const rejects = path.join(dir, 'ok', 'out.rejects.csv');
    assert.equal(
      fs.readFileSync(rejects, 'utf8'),
      fs.readFileSync(path.join(FIXTURES, 'transactions.rejects.csv'), 'utf8'),
    );
    const report = JSON.parse(res.stdout) as Record<string, unknown>;
    assert.deepEqual(Object.keys(report), [
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
    ]);
    assert.deepEqual(
      [report.job, report.rowsIn, report.rowsOut, report.rowsRejected, report.rejects, report.output],
      ['csv-validate', 10, 4, 6, rejects, out],
    );
  });

  it('too many rejects: exit 65 with the counts, no output, the rejects kept', async () => {
    const out = path.join(dir, 'threshold', 'out.csv');
    const rejects = path.join(dir, 'threshold', 'why.csv');
    const res = await runProcessor(['--job', 'csv-validate', fixture, out, '--rejects', rejects]);
    assert.equal(res.code, 65, res.stderr);
    assert.match(res.stderr, /6 of 10 rows \(60\.00%\) were rejected, more than the 5% allowed/);
    assert.equal(res.stdout, '');
    assert.deepEqual(fs.readdirSync(path.dirname(out)), ['why.csv']);
  });

  it('header mismatch: exit 65 naming the columns, nothing left behind', async () => {
    const input = path.join(dir, 'other.csv');
    fs.writeFileSync(input, 'a,b\n1,2\n');
    const out = path.join(dir, 'header', 'out.csv');
    const res = await runProcessor(['--job', 'csv-validate', input, out]);
    assert.equal(res.code, 65, res.stderr);
    assert.match(res.stderr, /header does not match schema "transactions".*Found 2: a, b\./);
    assert.deepEqual(fs.readdirSync(path.dirname(out)), []);
  });

  it('SCHEMA_FILE and --schema pick the schema; a bad one is a configuration error (exit 78)', async () => {
    const schemas = path.join(dir, 'schemas.json');
    fs.writeFileSync(
      schemas,
      JSON.stringify({
        schemas: {
          pairs: {
            columns: [
              { name: 'a', type: 'integer' },
              { name: 'b', type: 'string' },
            ],
          },
        },
      }),
    );
    const input = path.join(dir, 'pairs.csv');
    fs.writeFileSync(input, 'a,b\n1,x\ny,z\n');
    const out = path.join(dir, 'pairs', 'out.csv');
    const ok = await runProcessor(['--job', 'csv-validate', input, out, '--schema', 'pairs'], {
      SCHEMA_FILE: schemas,
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(fs.readFileSync(out, 'utf8'), 'a,b\n1,x\n');
    const unknown = await runProcessor(['--job', 'csv-validate', input, out], {
      SCHEMA_FILE: schemas,
      SCHEMA: 'nope',
    });
    assert.equal(unknown.code, 78, unknown.stderr);
    assert.match(unknown.stderr, /schema "nope" is not in .*schemas\.json; it has pairs/);
  });

  it("a schema's delimiter separates its files; --delimiter (CSV_DELIMITER in a container) wins over it", async () => {
    const schemas = semicolonSchemas('dialect-schemas.json');
    const semi = path.join(dir, 'semi.csv');
    fs.writeFileSync(semi, 'a;b\n1;"x;y"\nz;2" pipe\n');
    const out = path.join(dir, 'dialect', 'out.csv');
    const bySchema = await runProcessor(['--job', 'csv-validate', semi, out], { SCHEMA_FILE: schemas });
    assert.equal(bySchema.code, 0, bySchema.stderr);
    assert.equal(fs.readFileSync(out, 'utf8'), 'a;b\n1;"x;y"\n');
    assert.equal((JSON.parse(bySchema.stdout) as { bareQuoteFields: number }).bareQuoteFields, 1);

    const pipes = path.join(dir, 'pipes.csv');
    fs.writeFileSync(pipes, 'a|b\n1|x;y\n');
    const pipe = await runProcessor(['--job', 'csv-validate', pipes, out, '--delimiter', '|'], {
      SCHEMA_FILE: schemas,
    });
    assert.equal(pipe.code, 0, pipe.stderr);
    assert.equal(fs.readFileSync(out, 'utf8'), 'a|b\n1|x;y\n');
    const bad = await runProcessor(['--job', 'csv-validate', pipes, out, '--delimiter', ':']);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /--delimiter ":" is not a separator: expected ",", ";", "\|" or "tab"/);
  });

  it('a chunk given no separator while its schema names one fails, naming the metadata that fixes it', async () => {
    const schemas = semicolonSchemas('chunk-schemas.json');
    const input = path.join(dir, 'chunk-semi.csv');
    fs.writeFileSync(input, 'a;b\n1;x\n2;y\n');
    const out = path.join(dir, 'chunk', 'out.csv');
    const res = await runProcessor(
      [
        '--job',
        'csv-validate',
        input,
        out,
        '--range',
        '8-12',
        '--header',
        'a;b',
        '--first-row',
        '2',
        '--first-line',
        '3',
      ],
      { SCHEMA_FILE: schemas },
    );
    assert.equal(res.code, 65, res.stderr);
    assert.match(
      res.stderr,
      /schema "semi" separates fields with ";", but this chunk was planned with the default ","/,
    );
    assert.match(res.stderr, /Set x-amz-meta-csv-delimiter=; on the object/);
    const given = await runProcessor(
      [
        '--job',
        'csv-validate',
        input,
        out,
        '--range',
        '8-12',
        '--header',
        'a;b',
        '--first-row',
        '2',
        '--first-line',
        '3',
        '--delimiter',
        ';',
      ],
      { SCHEMA_FILE: schemas },
    );
    assert.equal(given.code, 0, given.stderr);
    assert.equal(fs.readFileSync(out, 'utf8'), '2;y\n');
  });
});

describe('csv-validate agrees with the Python peer', () => {
  const python = spawnSync('python3', ['--version']).status === 0;
  const peers = fs.existsSync(path.join(PEERS, 'gen_transactions.py'));
  it(
    'on a generated transactions file: the same counts and the same output bytes',
    { skip: !(python && peers) && 'needs python3 and ../shared/bench/peers' },
    async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'csv-validate-peer-'));
      try {
        const input = path.join(dir, 'in.csv');
        const run = (args: string[]) => {
          const res = spawnSync('python3', args, { encoding: 'utf8' });
          assert.equal(res.status, 0, res.stderr);
          return res.stdout;
        };
        run([path.join(PEERS, 'gen_transactions.py'), input, '2', '--seed', '11']);
        const peer = run([
          path.join(PEERS, 'peer_python_csv.py'),
          'validate',
          input,
          path.join(dir, 'peer.csv'),
          path.join(dir, 'peer-rejects.csv'),
        ]);
        const { result, output } = await validate(fs.readFileSync(input), TRANSACTIONS, 1 << 20, 5);
        assert.equal(
          peer.trim(),
          `rows_in=${result.rowsIn} rows_out=${result.rowsOut} rows_rejected=${result.rowsRejected}`,
        );
        assert.ok(result.rowsRejected > 50, 'the generated file has rejects');
        assert.ok(
          output.equals(fs.readFileSync(path.join(dir, 'peer.csv'))),
          'the same valid rows, byte for byte',
        );
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});

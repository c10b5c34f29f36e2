/**
 * DynamoDB benchmark: the project's csv-to-dynamodb job against the boto3 loaders of
 * ../shared/bench/peers/peer_dynamodb.py (`batch_writer`, and `put_item` row by row), in one run, against one
 * moto server, on one file of valid rows of the sample schema. Not a test: run it by hand with
 * `npm run bench:dynamodb [-- --rows N] [--seed N]` (default 15,000 rows, seed 2: see bench/data.ts). See
 * bench/README.md.
 *
 * Each tool loads the file into a table of its own, created fresh with the key the local stack gives
 * csv-to-dynamodb's table, as its own process, timed by wall clock (start-up included). Every table must then
 * hold exactly the file's rows, and a second run of the project's job into its table must leave that count
 * unchanged (the items are keyed, so a reload overwrites them), or the run fails. Prints a table, writes
 * bench/results/dynamodb.json, and ends with one line:
 *   vs_batch_writer=R vs_put_item=R items=N
 * R being the project's items/s over the peer's.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { runMain } from '../common/run-main';
import { CsvScanner } from '../csv/scanner';
import { tableKeyOf } from '../processors/dynamodb-items';
import { loadSchema } from '../common/schema';
import { tableItemCount } from '../scripts/pipeline-client';
import { startStack, type Stack } from '../scripts/stack';
import { ensureTools } from '../scripts/tools';
import { DEFAULT_SEED, exec, inputFile, PEERS, ROOT, workFolder, writeResults } from './data';

const TARGETS = { vsBatchWriter: 1, vsPutItem: 5 };
/**
 * The generator's rows are about 72 bytes: 80 a row sizes its file with room for the ~0.4% it makes invalid,
 * which the project rejects and the file of valid rows leaves out.
 */
const GENERATED_BYTES_PER_ROW = 80;

type Tool = 'project' | 'batch_writer' | 'put_item';

interface Run {
  tool: Tool;
  /** The project's second run into the same table: it must leave the item count as it was. */
  reload: boolean;
  table: string;
  wallSeconds: number;
  itemsWritten: number;
  itemsPerSecond: number;
  /** The table's items after the run (Scan, Select COUNT). */
  tableItems: number;
}

function parseArgs(argv: readonly string[]): { rows: number; seed: number } {
  const options = { rows: 15_000, seed: DEFAULT_SEED };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    const value = Number(argv[i + 1]);
    if ((name !== '--rows' && name !== '--seed') || !Number.isInteger(value) || value < 1) {
      throw new Error(`usage: npm run bench:dynamodb [-- --rows N] [--seed N] (got ${argv.join(' ')})`);
    }
    options[name === '--rows' ? 'rows' : 'seed'] = value;
  }
  return options;
}

/** The header and the first `rows` records of a CSV file (quoted line breaks stay inside their records). */
function firstRecords(csv: Buffer, rows: number): Buffer {
  let records = 0;
  let end = -1;
  const scanner = new CsvScanner('valid rows', {
    partial() {},
    record(_chunk, _start, _end, next) {
      if (++records === rows + 1) end = next;
    },
  });
  scanner.push(csv);
  scanner.finish();
  if (end < 0) throw new Error(`the generated file has only ${records - 1} valid rows, fewer than ${rows}`);
  return csv.subarray(0, end);
}

/** The compiled processor, as the container image runs it (`npm run build`, done first). */
const processor = (job: string, input: string, output: string, rejects: string): [string, string[]] => [
  process.execPath,
  ['dist/processors/main.js', '--job', job, input, output, '--rejects', rejects],
];

/**
 * A file of exactly `rows` valid rows: the generator's file for that many rows and more, through the project's
 * csv-validate, cut after `rows` records. Every tool then loads every row, and all tables hold the same items.
 */
async function validRows(
  rows: number,
  seed: number,
  work: string,
): Promise<{ generated: string; file: string }> {
  const generated = await inputFile({ sizeMb: Math.ceil((rows * GENERATED_BYTES_PER_ROW) / 2 ** 20), seed });
  const valid = path.join(work, 'valid.csv');
  await exec(...processor('csv-validate', generated, valid, path.join(work, 'valid.rejects.csv')));
  const file = path.join(work, `transactions-${rows}rows-seed${seed}.csv`);
  writeFileSync(file, firstRecords(readFileSync(valid), rows));
  return { generated, file };
}

/** A new table keyed as the local stack keys csv-to-dynamodb's (the built-in schema's key columns). */
async function createTable(dynamodb: DynamoDBClient, name: string): Promise<void> {
  const { partitionKey, sortKey } = tableKeyOf(loadSchema(undefined));
  if (sortKey || partitionKey.type !== 'S') {
    throw new Error(
      `the built-in schema's table key is not one S partition key (${JSON.stringify({ partitionKey, sortKey })}): ` +
        'the peer writes every value as a string and cannot load into it',
    );
  }
  await dynamodb.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: partitionKey.name, AttributeType: partitionKey.type }],
      KeySchema: [{ AttributeName: partitionKey.name, KeyType: 'HASH' }],
    }),
  );
}

async function load(
  stack: Stack,
  tool: Tool,
  table: string,
  input: string,
  work: string,
  reload = false,
): Promise<Run> {
  const key = tableKeyOf(loadSchema(undefined)).partitionKey.name;
  const [command, args] =
    tool === 'project'
      ? processor('csv-to-dynamodb', input, path.join(work, 'out.csv'), path.join(work, 'rejects.csv'))
      : // boto3 comes with moto's server extra, in the Python that runs moto.
        [
          ensureTools().motoPython,
          [path.join(PEERS, 'peer_dynamodb.py'), tool, stack.awsEndpoint, table, input, '--key', key],
        ];
  process.stderr.write(`${tool}${reload ? ' (reload)' : ''} into ${table}…\n`);
  const started = performance.now();
  const stdout = await exec(command, args, {
    ...process.env,
    ...stack.env,
    DYNAMODB_TABLE: table,
    LOG_LEVEL: 'warn',
  });
  const wallSeconds = (performance.now() - started) / 1000;
  let itemsWritten: number;
  if (tool === 'project') {
    const stats = JSON.parse(stdout.trim().split('\n').pop() ?? '') as {
      dynamodb?: { itemsWritten?: number };
    };
    itemsWritten = stats.dynamodb?.itemsWritten ?? NaN;
  } else {
    const match = /items_written=(\d+)/.exec(stdout);
    if (!match) throw new Error(`the ${tool} peer printed no count: ${stdout}`);
    itemsWritten = Number(match[1]);
  }
  return {
    tool,
    reload,
    table,
    wallSeconds,
    itemsWritten,
    itemsPerSecond: itemsWritten / wallSeconds,
    tableItems: await tableItemCount(stack.aws.dynamodb, table),
  };
}

function printTable(runs: readonly Run[]): string {
  const header = ['tool', 'table', 'wall s', 'items written', 'items/s', 'items in table'];
  const rows = runs.map((r) => [
    `${r.tool}${r.reload ? ' (reload)' : ''}`,
    r.table,
    r.wallSeconds.toFixed(2),
    String(r.itemsWritten),
    r.itemsPerSecond.toFixed(0),
    String(r.tableItems),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { rows, seed } = parseArgs(process.argv.slice(2));
  process.stderr.write('building the processor (npm run build)…\n');
  await exec('npm', ['run', 'build']);
  const work = workFolder();
  const stack = await startStack({ processes: false });
  try {
    const { generated, file: input } = await validRows(rows, seed, work);
    const runs: Run[] = [];
    for (const tool of ['project', 'batch_writer', 'put_item'] as const) {
      const table = `bench-${tool.replace('_', '-')}`;
      await createTable(stack.aws.dynamodb, table);
      runs.push(await load(stack, tool, table, input, work));
    }
    runs.push(await load(stack, 'project', 'bench-project', input, work, true));

    const rate = (tool: Tool) => runs.find((r) => r.tool === tool && !r.reload)!.itemsPerSecond;
    const summary = {
      vsBatchWriter: Number((rate('project') / rate('batch_writer')).toFixed(2)),
      vsPutItem: Number((rate('project') / rate('put_item')).toFixed(2)),
      items: rows,
    };
    const verdict = (name: keyof typeof TARGETS) => (summary[name] >= TARGETS[name] ? 'met' : 'MISSED');
    console.log(
      `\nthe first ${rows} valid rows of ${path.relative(ROOT, generated)}: ${(statSync(input).size / 1e6).toFixed(2)} MB, ` +
        `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}, moto at ${stack.awsEndpoint}\n`,
    );
    console.log(printTable(runs));
    console.log(
      `\nproject / batch_writer items/s ${summary.vsBatchWriter} (target ≥ ${TARGETS.vsBatchWriter}: ${verdict('vsBatchWriter')})` +
        `\nproject / put_item items/s     ${summary.vsPutItem} (target ≥ ${TARGETS.vsPutItem}: ${verdict('vsPutItem')})\n`,
    );

    const problems = runs
      .filter((r) => r.itemsWritten !== rows || r.tableItems !== rows)
      .map(
        (r) =>
          `${r.tool}${r.reload ? ' (reload)' : ''}: wrote ${r.itemsWritten} items, ${r.table} holds ${r.tableItems}, expected ${rows}`,
      );
    await writeResults('dynamodb', {
      date: new Date().toISOString(),
      file: { generatedFrom: path.relative(ROOT, generated), rows, seed, bytes: statSync(input).size },
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? null, node: process.version },
      targets: TARGETS,
      summary,
      countsAgree: problems.length === 0,
      runs: runs.map((r) => ({
        ...r,
        wallSeconds: Number(r.wallSeconds.toFixed(3)),
        itemsPerSecond: Math.round(r.itemsPerSecond),
      })),
    });
    if (problems.length > 0) throw new Error(`the item counts differ:\n  ${problems.join('\n  ')}`);
    console.log(
      `vs_batch_writer=${summary.vsBatchWriter.toFixed(2)} vs_put_item=${summary.vsPutItem.toFixed(2)} items=${rows}`,
    );
  } finally {
    await stack.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

runMain('bench:dynamodb', main);

/**
 * CSV benchmark: the project's csv-transform and csv-validate jobs against DuckDB and Python's csv module,
 * in one run, on one generated transactions file (../shared/bench/peers). Not a test: run it by hand with
 * `npm run bench:csv [-- --size-mb N] [--seed N] [--runs N]` (default 1024 MB, seed 2: see bench/data.ts;
 * 5 runs). See bench/README.md.
 *
 * Every tool runs as its own process, one after the other, measured the same way: wall time and peak RSS
 * (the largest resident set of the process tree, from getrusage(RUSAGE_CHILDREN) in a tiny Python wrapper,
 * which works wherever the generator does). For each job the project and DuckDB take turns, `--runs` times
 * each (project, DuckDB, project, DuckDB, …), so that both see the same drift of a shared machine, and each
 * pair gives one ratio; the result is the median of those ratios, so that one noisy run cannot decide it.
 * Python, far slower, runs once per job. The row counts of every run must agree, or the run fails.
 * Prints a table, writes bench/results/csv.json, and ends with one line (R the median ratios, N the largest
 * peak RSS of the project's runs):
 *   transform_vs_duckdb=R validate_vs_duckdb=R peak_rss_mb=N
 */
import { createReadStream, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exec, inputFile, parseArgs, PEERS, ROOT, workFolder, writeResults } from './data';

/** Fixed so that every run of the transform writes the same bytes. */
const PROCESSED_AT = '2026-01-01T00:00:00.000Z';
const TARGETS = { transformVsDuckdb: 0.5, validateVsDuckdb: 0.5, peakRssMb: 200 };
/** Runs of the project and of DuckDB per job, alternating, unless `--runs N` says otherwise. */
const DEFAULT_RUNS = 5;

/**
 * Runs the command given after the stats path, then writes its exit code, wall seconds and peak RSS (KiB
 * on Linux) to the stats path. Its output is the command's own.
 */
const MEASURE = `
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[2:]).returncode
wall = time.perf_counter() - start
with open(sys.argv[1], 'w') as f:
    json.dump({'code': code, 'wall': wall, 'maxrss_kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}, f)
`;

type Job = 'transform' | 'validate';
type Tool = 'project' | 'duckdb' | 'python';

interface Counts {
  rowsIn: number;
  rowsOut: number;
  rowsRejected: number;
}

interface Run extends Counts {
  job: Job;
  tool: Tool;
  wallSeconds: number;
  peakRssMb: number;
}

/** Reads the file once, so that no tool pays for the first read from disk. */
async function warmPageCache(file: string): Promise<void> {
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) void chunk;
}

function countsOf(tool: Tool, stdout: string): Counts {
  if (tool === 'project') {
    const stats = JSON.parse(stdout.trim().split('\n').pop() ?? '') as Partial<Counts>;
    return {
      rowsIn: stats.rowsIn ?? NaN,
      rowsOut: stats.rowsOut ?? NaN,
      rowsRejected: stats.rowsRejected ?? 0,
    };
  }
  const match = /rows_in=(\d+) rows_out=(\d+) rows_rejected=(\d+)/.exec(stdout);
  if (!match) throw new Error(`${tool} printed no counts: ${stdout}`);
  return { rowsIn: Number(match[1]), rowsOut: Number(match[2]), rowsRejected: Number(match[3]) };
}

function command(tool: Tool, job: Job, input: string, output: string, rejects: string): string[] {
  switch (tool) {
    case 'project':
      // The compiled processor, as the container image runs it (`npm run build`, done first).
      return [
        process.execPath,
        'dist/processors/main.js',
        '--job',
        `csv-${job}`,
        input,
        output,
        ...(job === 'transform' ? ['--processed-at', PROCESSED_AT] : ['--rejects', rejects]),
      ];
    case 'duckdb':
      return [process.execPath, path.join(PEERS, 'peer_duckdb.mjs'), job, input, output, rejects];
    case 'python':
      return ['python3', path.join(PEERS, 'peer_python_csv.py'), job, input, output, rejects];
  }
}

async function measure(tool: Tool, job: Job, input: string, work: string): Promise<Run> {
  const output = path.join(work, `${tool}-${job}.csv`);
  const rejects = path.join(work, `${tool}-${job}.rejects.csv`);
  const statsFile = path.join(work, 'stats.json');
  const stdout = await exec(
    'python3',
    ['-c', MEASURE, statsFile, ...command(tool, job, input, output, rejects)],
    {
      ...process.env,
      LOG_LEVEL: 'warn',
    },
  );
  const stats = JSON.parse(readFileSync(statsFile, 'utf8')) as {
    code: number;
    wall: number;
    maxrss_kb: number;
  };
  if (stats.code !== 0) throw new Error(`${job} with ${tool} exited with ${stats.code}:\n${stdout}`);
  // The outputs are as large as the input: only one tool's at a time is kept on disk.
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work);
  return {
    job,
    tool,
    wallSeconds: stats.wall,
    peakRssMb: stats.maxrss_kb / 1024,
    ...countsOf(tool, stdout),
  };
}

/** The counts of every run of every tool for each job, and the rows_in of both jobs, must be the same. */
function disagreements(runs: readonly Run[]): string[] {
  const problems: string[] = [];
  const key = (r: Counts) => `rows_in=${r.rowsIn} rows_out=${r.rowsOut} rows_rejected=${r.rowsRejected}`;
  for (const job of ['transform', 'validate'] as const) {
    const of = runs.filter((r) => r.job === job);
    if (new Set(of.map(key)).size > 1) {
      problems.push(`${job}: ${of.map((r) => `${r.tool} ${key(r)}`).join('; ')}`);
    }
  }
  if (new Set(runs.map((r) => r.rowsIn)).size > 1) problems.push('the jobs read different numbers of rows');
  if (runs.some((r) => r.job === 'transform' && r.rowsRejected !== 0))
    problems.push('a transform rejected rows');
  return problems;
}

/** The median of `values` (the mean of the middle two for an even count). */
function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One job's comparison: the project / DuckDB wall-time ratio of each pair of runs, in run order. */
interface JobSummary {
  ratios: number[];
  median: number;
  min: number;
  max: number;
}

function summarize(runs: readonly Run[], job: Job): JobSummary {
  const walls = (tool: Tool) =>
    runs.filter((r) => r.job === job && r.tool === tool).map((r) => r.wallSeconds);
  const duckdb = walls('duckdb');
  const ratios = walls('project').map((project, i) => project / duckdb[i]!);
  const round = (x: number) => Number(x.toFixed(2));
  return {
    ratios: ratios.map(round),
    median: round(median(ratios)),
    min: round(Math.min(...ratios)),
    max: round(Math.max(...ratios)),
  };
}

/** One line per job and tool: the median wall time of its runs, their range, the largest peak RSS. */
function table(runs: readonly Run[], bytes: number): string {
  const header = [
    'job',
    'tool',
    'runs',
    'median s',
    'range s',
    'MB/s',
    'peak RSS MB',
    'rows_in',
    'rows_out',
    'rows_rejected',
  ];
  const rows: string[][] = [];
  for (const job of ['transform', 'validate'] as const) {
    for (const tool of ['project', 'duckdb', 'python'] as const) {
      const of = runs.filter((r) => r.job === job && r.tool === tool);
      if (of.length === 0) continue;
      const walls = of.map((r) => r.wallSeconds);
      const wall = median(walls);
      rows.push([
        job,
        tool,
        String(of.length),
        wall.toFixed(2),
        `${Math.min(...walls).toFixed(2)}–${Math.max(...walls).toFixed(2)}`,
        (bytes / 1e6 / wall).toFixed(0),
        Math.max(...of.map((r) => r.peakRssMb)).toFixed(0),
        String(of[0]!.rowsIn),
        String(of[0]!.rowsOut),
        String(of[0]!.rowsRejected),
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** `--runs N` taken out of the arguments; the others are the shared ones of {@link parseArgs}. */
function parseRuns(argv: readonly string[]): { runs: number; rest: string[] } {
  const at = argv.indexOf('--runs');
  if (at === -1) return { runs: DEFAULT_RUNS, rest: [...argv] };
  const runs = Number(argv[at + 1]);
  if (!Number.isInteger(runs) || runs < 1) {
    throw new Error(
      `usage: npm run bench:csv [-- --size-mb N] [--seed N] [--runs N] (got --runs ${argv[at + 1]})`,
    );
  }
  return { runs, rest: [...argv.slice(0, at), ...argv.slice(at + 2)] };
}

async function main(): Promise<void> {
  const { runs: rounds, rest } = parseRuns(process.argv.slice(2));
  const { sizeMb, seed } = parseArgs(rest, 'bench:csv');
  const input = await inputFile({ sizeMb, seed });
  process.stderr.write('building the processor (npm run build)…\n');
  await exec('npm', ['run', 'build']);
  const bytes = statSync(input).size;
  await warmPageCache(input);
  const work = workFolder();
  const runs: Run[] = [];
  try {
    for (const job of ['transform', 'validate'] as const) {
      for (let round = 1; round <= rounds; round++) {
        for (const tool of ['project', 'duckdb'] as const) {
          process.stderr.write(`${job} with ${tool}, run ${round} of ${rounds}…\n`);
          runs.push(await measure(tool, job, input, work));
        }
      }
      process.stderr.write(`${job} with python…\n`);
      runs.push(await measure('python', job, input, work));
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }

  const jobs = { transform: summarize(runs, 'transform'), validate: summarize(runs, 'validate') };
  const summary = {
    transformVsDuckdb: jobs.transform.median,
    validateVsDuckdb: jobs.validate.median,
    peakRssMb: Math.round(Math.max(...runs.filter((r) => r.tool === 'project').map((r) => r.peakRssMb))),
  };
  const verdict = (name: keyof typeof TARGETS) => (summary[name] <= TARGETS[name] ? 'met' : 'MISSED');
  const ratioLine = (job: Job, name: keyof typeof TARGETS) =>
    `${`${job}:`.padEnd(10)} project / DuckDB wall time, median of ${rounds} pairs ${jobs[job].median.toFixed(2)} ` +
    `(range ${jobs[job].min.toFixed(2)}–${jobs[job].max.toFixed(2)}; ${jobs[job].ratios.map((r) => r.toFixed(2)).join(' ')}) ` +
    `(target ≤ ${TARGETS[name]}: ${verdict(name)})`;

  console.log(
    `\n${path.relative(ROOT, input)}: ${(bytes / 2 ** 20).toFixed(0)} MiB, ${runs[0]!.rowsIn} rows, ` +
      `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), Node ${process.version}\n`,
  );
  console.log(table(runs, bytes));
  console.log(
    `\n${ratioLine('transform', 'transformVsDuckdb')}` +
      `\n${ratioLine('validate', 'validateVsDuckdb')}` +
      `\npeak RSS of the project's runs: ${summary.peakRssMb} MB (target ≤ ${TARGETS.peakRssMb}: ${verdict('peakRssMb')})\n`,
  );

  const problems = disagreements(runs);
  const result = {
    date: new Date().toISOString(),
    file: { path: path.relative(ROOT, input), sizeMb, seed, bytes },
    machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model ?? null, node: process.version },
    targets: TARGETS,
    rounds,
    summary,
    ratios: jobs,
    countsAgree: problems.length === 0,
    runs: runs.map((r) => ({
      ...r,
      wallSeconds: Number(r.wallSeconds.toFixed(3)),
      peakRssMb: Math.round(r.peakRssMb),
    })),
  };
  await writeResults('csv', result);
  if (problems.length > 0) {
    throw new Error(`the tools disagree on the row counts:\n  ${problems.join('\n  ')}`);
  }
  console.log(
    `transform_vs_duckdb=${summary.transformVsDuckdb.toFixed(2)} validate_vs_duckdb=${summary.validateVsDuckdb.toFixed(2)} peak_rss_mb=${summary.peakRssMb}`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:csv failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});

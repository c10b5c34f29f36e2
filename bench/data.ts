/** What the benchmarks share: their arguments, the generated input file, running a command, the results file. */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { format, resolveConfig } from 'prettier';

export const ROOT = path.resolve(__dirname, '..');
export const PEERS = path.resolve(ROOT, '..', 'shared', 'bench', 'peers');
const DATA = path.join(ROOT, '.data', 'bench');

/**
 * Seed 2, not the generator's default 1: on the 1 GiB file of seed 1 a thread boundary of DuckDB's parallel CSV
 * reader falls inside a quoted newline, and DuckDB ≥ 1.4 then refuses the file with null_padding (the peer's
 * setting) rather than risk reading it wrong. Seed 2 has the same mix of rows.
 */
export const DEFAULT_SEED = 2;

export interface BenchArgs {
  sizeMb: number;
  seed: number;
}

/** `--size-mb N` (default 1024) and `--seed N` (default {@link DEFAULT_SEED}). */
export function parseArgs(argv: readonly string[], script: string): BenchArgs {
  const options = { sizeMb: 1024, seed: DEFAULT_SEED };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i];
    const value = Number(argv[i + 1]);
    if ((name !== '--size-mb' && name !== '--seed') || !Number.isInteger(value) || value < 1) {
      throw new Error(`usage: npm run ${script} [-- --size-mb N] [--seed N] (got ${argv.join(' ')})`);
    }
    options[name === '--size-mb' ? 'sizeMb' : 'seed'] = value;
    i++;
  }
  return options;
}

/** Runs a command to completion; resolves with its stdout, rejects with its stderr's end if it fails. */
export function exec(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${stderr}`));
    });
  });
}

/** The peers' generated transactions file for this size and seed, made once and kept under .data/bench/. */
export async function inputFile({ sizeMb, seed }: BenchArgs): Promise<string> {
  const file = path.join(DATA, `transactions-${sizeMb}mb-seed${seed}.csv`);
  if (existsSync(file)) return file;
  mkdirSync(DATA, { recursive: true });
  const partial = `${file}.partial`;
  process.stderr.write(`generating ${path.relative(ROOT, file)} (${sizeMb} MB)…\n`);
  await exec('python3', [
    path.join(PEERS, 'gen_transactions.py'),
    partial,
    String(sizeMb),
    '--seed',
    String(seed),
  ]);
  renameSync(partial, file);
  return file;
}

/** A scratch folder for one run, under .data/bench/. */
export function workFolder(): string {
  const work = path.join(DATA, `work-${process.pid}`);
  mkdirSync(work, { recursive: true });
  return work;
}

/** Writes `bench/results/NAME.json` formatted as the repository's formatter would, so that it passes lint. */
export async function writeResults(name: string, result: object): Promise<void> {
  const file = path.join(__dirname, 'results', `${name}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  const style = await resolveConfig(file);
  await writeFile(file, await format(JSON.stringify(result), { ...style, filepath: file }));
}

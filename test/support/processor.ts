/**
 * Runs the processor entrypoint as the compute backends do: its own process, only the given environment.
 * Container mode (no arguments) runs in its container's sandbox, as the local backend runs it: a write to
 * local disk fails the run. The CLI (arguments) writes local files, as a person running it expects.
 */
import { spawn, spawnSync } from 'node:child_process';
import { containerSandbox } from '../../activities/local-backend';
import { processorEntry } from '../../activities/processor-build';
import { REPO_ROOT } from '../../scripts/tools';

export async function runProcessor(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const environment = { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', ...env };
  const command =
    args.length === 0
      ? [...containerSandbox(environment), (await processorEntry()).main]
      : ['--import', 'tsx', 'processors/main.ts', ...args];
  const child = spawn(process.execPath, command, { cwd: REPO_ROOT, env: environment });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `code` (CommonJS, TypeScript through tsx) in a node process of its own, with no environment but PATH. */
export function runScript(code: string): { status: number | null; stdout: string; stderr: string } {
  const res = spawnSync(process.execPath, ['--import', 'tsx', '--eval', code], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '' },
    encoding: 'utf8',
  });
  return { status: res.status, stdout: res.stdout, stderr: res.stderr };
}

/** One processor run over a whole local file, as the single-piece reference; its statistics line, parsed. */
export async function processWhole(args: string[]): Promise<Record<string, unknown>> {
  const run = await runProcessor(args);
  if (run.code !== 0) throw new Error(`the processor exited with ${run.code}:\n${run.stderr}`);
  return JSON.parse(run.stdout.trim().split('\n').pop()!) as Record<string, unknown>;
}

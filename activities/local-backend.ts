/**
 * The local compute backend: the processor entrypoint as a child process, with the environment a Batch or
 * ECS container would get (the processor contract plus AWS credentials standing in for the task role).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { extname, join } from 'node:path';
import type { ComputeBackend, ProcessorOutcome, ProcessorRun } from './compute';

export interface LocalBackendOptions {
  /**
   * How often to heartbeat while the process runs.
   * @default 10
   */
  heartbeatSeconds?: number;
  /**
   * How long a cancelled process gets between SIGTERM and SIGKILL.
   * @default 10
   */
  killGraceSeconds?: number;
}

/** Variables passed through from the worker: what a container gets from its task role and image. */
const PASSTHROUGH = [
  'PATH',
  'HOME',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
];

const STDERR_TAIL_BYTES = 4096;

/** The processor entrypoint next to this module: TypeScript sources run through tsx, built JS as is. */
function processorCommand(): string[] {
  const ext = extname(__filename);
  const entry = join(__dirname, '..', 'processors', `main${ext}`);
  return ext === '.ts' ? ['--import', 'tsx', entry] : [entry];
}

export function createLocalBackend(options: LocalBackendOptions = {}): ComputeBackend {
  const heartbeatMs = (options.heartbeatSeconds ?? 10) * 1000;
  const graceMs = (options.killGraceSeconds ?? 10) * 1000;
  return {
    name: 'local',
    run({ environment, heartbeat, signal }: ProcessorRun): Promise<ProcessorOutcome> {
      const env = Object.fromEntries(
        PASSTHROUGH.flatMap((n) => (process.env[n] ? [[n, process.env[n]]] : [])),
      );
      const child = spawn(process.execPath, processorCommand(), {
        env: { ...env, ...environment },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const logRef = `local pid ${child.pid ?? '?'}`;
      const started = Date.now();
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout = (stdout + d).slice(-65536);
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-STDERR_TAIL_BYTES);
      });
      const beat = () =>
        heartbeat({ pid: child.pid, elapsedSeconds: Math.round((Date.now() - started) / 1000) });
      beat();
      const timer = setInterval(beat, heartbeatMs);
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      };
      signal.addEventListener('abort', onAbort, { once: true });

      return new Promise<ProcessorOutcome>((resolve, reject) => {
        child.on('error', (err) => {
          clearInterval(timer);
          reject(
            new Error(`cannot start the processor (${process.execPath}): ${err.message}`, { cause: err }),
          );
        });
        child.on('close', (code, sig) => {
          clearInterval(timer);
          clearTimeout(killTimer);
          signal.removeEventListener('abort', onAbort);
          if (signal.aborted) {
            reject(signal.reason instanceof Error ? signal.reason : new Error('processor run cancelled'));
            return;
          }
          const lastLine = stdout.trim().split('\n').pop() ?? '';
          let report: Record<string, unknown> | undefined;
          try {
            report = code === 0 && lastLine ? (JSON.parse(lastLine) as Record<string, unknown>) : undefined;
          } catch {
            report = undefined;
          }
          resolve({
            exitCode: code ?? 128 + (sig ? constants.signals[sig] : 0),
            stderrTail: stderr.trim(),
            ...(report ? { report } : {}),
            logRef,
          });
        });
      });
    },
  };
}

/**
 * The local compute backend: the compiled processor entrypoint (./processor-build.ts) as a child process,
 * with the environment a Batch or ECS container would get (the processor contract plus AWS credentials
 * standing in for the task role) and its container's constraints: no write to local disk. It mirrors the
 * AWS lifecycle in its heartbeats (SUBMITTED, RUNNABLE, RUNNING, SUCCEEDED/FAILED) and records the request
 * the mirrored AWS backend would have sent.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { ProcessorStats } from '../contract/reports';
import type { Backend, ProcessorOutcome, ProcessorRun } from './compute';
import { processorEntry } from './processor-build';

export interface LocalBackendOptions {
  /** The AWS request this run stands for (SubmitJob for the Batch route, RunTask for ECS). */
  mirrors: (run: ProcessorRun) => object;
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
  // The task role's credentials on ECS and Fargate: the endpoint the SDK fetches them from.
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  // Not a container's: the tests record every AWS call, the processor's too.
  'AWS_CALL_LOG_DIR',
  // Where the worker sends its spans, the processor sends its own (common/tracing.ts).
  'OTEL_TRACES_EXPORTER',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_ZIPKIN_ENDPOINT',
];

/** The environment of a processor run: the worker's {@link PASSTHROUGH} variables and the run's own. */
export function containerEnvironment(environment: Record<string, string>): Record<string, string> {
  return {
    ...Object.fromEntries(PASSTHROUGH.flatMap((n) => (process.env[n] ? [[n, process.env[n]]] : []))),
    ...environment,
  };
}

const STDERR_TAIL_BYTES = 4096;
const BACKEND = 'local';

/**
 * Node's permission model with the constraints of the processor's container: it may read any file and
 * start worker threads, and write no file, as its read-only root filesystem allows; only the directory of
 * `AWS_CALL_LOG_DIR` (tests) is writable. `--permission` from Node 22.13, `--experimental-permission` before.
 */
export function containerSandbox(env: NodeJS.ProcessEnv): string[] {
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  return [
    major > 22 || (major === 22 && minor >= 13) ? '--permission' : '--experimental-permission',
    '--allow-fs-read=*',
    '--allow-worker',
    ...(env.AWS_CALL_LOG_DIR ? [`--allow-fs-write=${env.AWS_CALL_LOG_DIR}/*`] : []),
  ];
}

/** What a run stopped by `signal` rejects with: the abort's reason. */
export function cancellation(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error('processor run cancelled');
}

export function createLocalBackend(options: LocalBackendOptions): Backend {
  const heartbeatMs = (options.heartbeatSeconds ?? 10) * 1000;
  const graceMs = (options.killGraceSeconds ?? 10) * 1000;
  return {
    name: BACKEND,
    request: options.mirrors,

    async run({ environment, heartbeat, signal, jobName }: ProcessorRun): Promise<ProcessorOutcome> {
      // A process does not outlive its worker, so an earlier attempt's run is never resumed: it reruns.
      heartbeat({ backend: BACKEND, id: jobName, status: 'SUBMITTED' });
      heartbeat({ backend: BACKEND, id: jobName, status: 'RUNNABLE' });
      const { main } = await processorEntry();
      if (signal.aborted) throw cancellation(signal);
      const env = containerEnvironment(environment);
      const child = spawn(process.execPath, [...containerSandbox(env), main], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const handle = { backend: BACKEND, id: `pid ${child.pid ?? '?'}` };
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout = (stdout + d).slice(-65536);
      });
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-STDERR_TAIL_BYTES);
      });
      const beat = () => heartbeat({ ...handle, status: 'RUNNING' });
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
            reject(cancellation(signal));
            return;
          }
          const exitCode = code ?? 128 + (sig ? constants.signals[sig] : 0);
          heartbeat({ ...handle, status: exitCode === 0 ? 'SUCCEEDED' : 'FAILED' });
          const lastLine = stdout.trim().split('\n').pop() ?? '';
          let report: ProcessorStats | undefined;
          try {
            report = exitCode === 0 && lastLine ? (JSON.parse(lastLine) as ProcessorStats) : undefined;
          } catch {
            report = undefined;
          }
          resolve({
            handle,
            succeeded: exitCode === 0,
            exitCode,
            detail: stderr.trim(),
            logRef: `local ${handle.id}`,
            ...(report ? { report } : {}),
          });
        });
      });
    },
  };
}

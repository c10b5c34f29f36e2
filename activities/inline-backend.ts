/**
 * The inline compute backend: the processor on the worker itself, in a pool of long-lived worker threads
 * (processors/thread.ts, compiled: ./processor-build.ts), with no process and no container. A run gets the
 * environment the local backend's child would (the processor contract plus the worker's credentials), runs
 * the same code on the same streams, and ends with the exit code and the text the process would have exited
 * and printed with. Its AWS calls are recorded as `inline`: the worker's role makes them.
 */
import { Worker } from 'node:worker_threads';
import type { ThreadReply, ThreadRequest } from '../contract/threads';
import type { Backend, ProcessorOutcome, ProcessorRun } from './compute';
import { cancellation, containerEnvironment } from './local-backend';
import { processorEntry } from './processor-build';

export interface InlineBackendOptions {
  /** Runs at most at once, each on a thread of its own; more wait for a thread. */
  threads: number;
  /**
   * How often to heartbeat while a run waits or runs; the first beat comes after this long, so a shorter
   * run sends none.
   * @default 10
   */
  heartbeatSeconds?: number;
}

/** A run's end on its thread; `died` when the thread itself ended (uncaught error, out of memory). */
type Ended = Extract<ThreadReply, { kind: 'ended' }> & { died?: true };

const BACKEND = 'inline';
/** How long an aborted run's thread gets to discard its outputs before it is terminated regardless. */
const DISCARD_GRACE_MS = 10_000;

// eslint-disable-next-line max-lines-per-function -- a backend factory: its run, request and close share the pool
export function createInlineBackend(options: InlineBackendOptions): Backend & { close(): Promise<void> } {
  const heartbeatMs = (options.heartbeatSeconds ?? 10) * 1000;
  /** Every thread started and not yet ended. */
  const live = new Set<Worker>();
  /** Threads waiting for a run. */
  const idle: Worker[] = [];
  /** Runs waiting for a thread. */
  const waiting: { start: () => void; abort: (err: Error) => void }[] = [];
  let free = options.threads;
  let closed = false;
  const closedError = () => new Error('the inline backend was closed (worker shutdown)');

  function startThread(file: string): Worker {
    // Required from evaluated code, the thread entry is not the thread's main module: processors/main.ts,
    // bundled into it, then does not run as the processor's entry point.
    const worker = new Worker(`require(${JSON.stringify(file)});`, { eval: true, env: {} });
    live.add(worker);
    worker.on('exit', () => {
      live.delete(worker);
      const at = idle.indexOf(worker);
      if (at >= 0) idle.splice(at, 1);
    });
    return worker;
  }

  /** Returns a thread to the pool, unreferenced while idle (an idle pool does not keep the worker alive). */
  function park(worker: Worker): void {
    if (closed) return;
    worker.unref();
    idle.push(worker);
  }

  /** Waits for one of the `threads` places; rejects if `signal` aborts first. */
  function acquire(signal: AbortSignal): Promise<void> {
    if (closed) return Promise.reject(closedError());
    if (signal.aborted) return Promise.reject(cancellation(signal));
    if (free > 0) {
      free--;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const entry = {
        start: () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        },
        abort: (err: Error) => {
          signal.removeEventListener('abort', onAbort);
          waiting.splice(waiting.indexOf(entry), 1);
          reject(err);
        },
      };
      const onAbort = () => entry.abort(cancellation(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      waiting.push(entry);
    });
  }

  function release(): void {
    const next = waiting.shift();
    if (next) next.start();
    else free++;
  }

  /**
   * Executes one run on `worker` until it ends or the thread dies. On abort the thread discards its outputs,
   * is terminated, and the run rejects with the abort's reason.
   */
  function runOn(worker: Worker, environment: Record<string, string>, signal: AbortSignal): Promise<Ended> {
    return new Promise((resolve, reject) => {
      let failure: Error | undefined;
      const done = () => {
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        signal.removeEventListener('abort', onAbort);
      };
      const onMessage = (reply: ThreadReply) => {
        if (reply.kind !== 'ended') return;
        done();
        resolve(reply);
      };
      const onError = (err: Error) => {
        failure = err;
      };
      const onExit = (code: number) => {
        done();
        if (closed) {
          reject(closedError());
          return;
        }
        const why = failure ? `: ${failure.stack ?? failure.message}` : '';
        resolve({
          kind: 'ended',
          exitCode: 1,
          detail: `the processor thread died (exit code ${code})${why}`,
          died: true,
        });
      };
      const onAbort = () => {
        done();
        const terminate = () => {
          clearTimeout(grace);
          worker.off('message', onDiscarded);
          worker.off('exit', terminate);
          void worker.terminate();
          reject(cancellation(signal));
        };
        const onDiscarded = (reply: ThreadReply) => {
          if (reply.kind === 'discarded') terminate();
        };
        const grace = setTimeout(terminate, DISCARD_GRACE_MS);
        worker.on('message', onDiscarded);
        worker.once('exit', terminate);
        worker.postMessage({ kind: 'discard' } satisfies ThreadRequest);
      };
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      signal.addEventListener('abort', onAbort, { once: true });
      worker.ref();
      worker.postMessage({ kind: 'run', environment } satisfies ThreadRequest);
    });
  }

  return {
    name: BACKEND,
    request: (run) => ({ inline: { threads: options.threads, environment: run.environment } }),

    async run({ environment, heartbeat, signal, jobName }: ProcessorRun): Promise<ProcessorOutcome> {
      // A thread does not outlive its worker, so an earlier attempt's run is never resumed: it reruns.
      const handle = { backend: BACKEND, id: jobName };
      let status = 'RUNNABLE';
      const timer = setInterval(() => heartbeat({ ...handle, status }), heartbeatMs);
      try {
        const { thread: file } = await processorEntry();
        await acquire(signal);
        const worker = idle.pop() ?? startThread(file);
        // A thread that died, or was terminated for an abort, is replaced by a fresh one.
        let reusable = false;
        try {
          status = 'RUNNING';
          const ended = await runOn(worker, containerEnvironment(environment), signal);
          reusable = !ended.died;
          const outcome: ProcessorOutcome = {
            handle,
            succeeded: ended.exitCode === 0,
            exitCode: ended.exitCode,
            detail: ended.detail,
            logRef: `${BACKEND} ${jobName}`,
            ...(ended.report ? { report: ended.report } : {}),
            ...(ended.output ? { output: ended.output } : {}),
          };
          return outcome;
        } finally {
          if (reusable) park(worker);
          else if (!closed) park(startThread(file));
          release();
        }
      } finally {
        clearInterval(timer);
      }
    },

    async close() {
      closed = true;
      for (const entry of [...waiting]) entry.abort(closedError());
      idle.length = 0;
      await Promise.all([...live].map((worker) => worker.terminate()));
    },
  };
}

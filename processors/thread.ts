/**
 * The processor as a worker thread of the Temporal worker (activities/inline-backend.ts): the run of
 * ./main.ts in container mode, one job at a time, on a thread that outlives its jobs. Each job brings its
 * whole environment (the processor contract and the worker's credentials), which replaces the thread's own
 * (a thread's `process.env` is its own copy); the job ends with the exit code ./main.ts would exit with and
 * the text it would print on stderr, instead of the stats line its statistics.
 *
 * Messages: contract/threads.ts. Importing this module outside a worker
 * thread does nothing.
 */
import { parentPort } from 'node:worker_threads';
import { createLogger } from '../common/log';
import { failureText } from '../common/run-main';
import type { ThreadReply, ThreadRequest } from '../contract/threads';
import { fromEnvironment } from './environment';
import { exitCodeOf } from './main';
import { discardOutputs, runJob } from './run';

/** Runs one job as ./main.ts does in container mode, in `environment` alone. */
async function runIn(environment: Record<string, string>): Promise<ThreadReply> {
  for (const name of Object.keys(process.env)) delete process.env[name];
  Object.assign(process.env, environment);
  try {
    const spec = fromEnvironment();
    const { report, output } = await runJob(spec, createLogger('processor', spec.logLevel), 'inline');
    return { kind: 'ended', exitCode: 0, detail: '', report, ...(output ? { output } : {}) };
  } catch (err) {
    // As common/run-main.ts prints it for the processor (no prefix), and with its exit code.
    const code = exitCodeOf(err);
    return { kind: 'ended', exitCode: code ?? 1, detail: failureText(err) };
  }
}

const port = parentPort;
port?.on('message', (request: ThreadRequest) => {
  const reply =
    request.kind === 'run'
      ? runIn(request.environment)
      : discardOutputs().then((): ThreadReply => ({ kind: 'discarded' }));
  void reply.then((message) => port.postMessage(message));
});

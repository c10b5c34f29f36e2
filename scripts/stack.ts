/**
 * The local stack: a Temporal dev server, a moto server (S3 + SQS) provisioned like the AWS deployment,
 * and optionally the worker and the ingress as real processes. Used by `npm run dev`, `npm run demo` and
 * the tests. Start-up waits for real readiness; `stop()` (and process exit) stops every process started.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { createAwsClients, type AwsClients } from '../common/aws';
import { loadConfig, SCHEDULE_VARIABLES } from '../common/config';
import { withoutTemporalConnection } from '../common/temporal';
import { ExplainedError } from '../contract/failures';
import { INGRESS_READY_MESSAGE } from '../ingress/ingress';
import { DEFAULTS } from '../contract/defaults';
import { computeTaskQueue, inlineTaskQueue, SA } from '../contract/workflow';
import type { DailyReportSchedule } from '../contract/schedule';
import { provision } from './provision';
import { ensureDailyReportSchedule } from './schedules';
import { ensureTools, ensureZipkin, REPO_ROOT } from './tools';

export interface StackOptions {
  /** Fixed ports (`npm run dev`); free ports are picked for any left out. */
  ports?: { temporal?: number; ui?: number; moto?: number; metrics?: number; zipkin?: number };
  /** Serve the Temporal web UI. @default false */
  ui?: boolean;
  /** Start the worker and the ingress as child processes. @default true */
  processes?: boolean;
  /** VisibilityTimeout of the queue, i.e. how soon an unacknowledged message is redelivered. @default 60 */
  queueVisibilityTimeoutSeconds?: number;
  /** Extra environment for the worker and the ingress. */
  env?: Record<string, string>;
  /**
   * Keep Temporal's state in a database file rather than in memory, so that {@link Stack.stopTemporal} and
   * {@link Stack.startTemporal} can stage an outage and bring it back with its data.
   * @default false
   */
  durableTemporal?: boolean;
  /** Extra environment for moto, e.g. `MOTO_SIMPLE_BATCH_FAIL_AFTER`. */
  motoEnv?: Record<string, string>;
  /** Run Zipkin on `ports.zipkin` (9411) and send every process's spans there (`npm run dev -- --traces`). */
  traces?: boolean;
  /** Where progress lines and the children's output go. @default nothing */
  log?: (line: string) => void;
}

/** The names the launcher provisions: the same shape the CDK app creates on AWS. */
export const STACK_NAMES = {
  inputBucket: 'pipeline-input',
  outputBucket: 'pipeline-output',
  queue: 'pipeline-events',
  deadLetterQueue: 'pipeline-events-dlq',
  maxReceiveCount: 5,
  /** csv-to-dynamodb's table, keyed as the built-in default schema says (tableKeyOf). */
  table: 'pipeline-rows',
} as const;

/** Where `npm run dev` describes the running stack for `npm run upload`. */
export const STACK_FILE = join(REPO_ROOT, '.data', 'stack.json');

export interface RunningStack {
  env: Record<string, string>;
  inputBucket: string;
  uiUrl: string;
}

export interface Stack {
  temporalAddress: string;
  namespace: string;
  taskQueue: string;
  uiUrl?: string;
  /** Zipkin's UI, with `traces`. */
  tracesUrl?: string;
  /** The worker's Prometheus endpoint: the Temporal SDK's metrics and the pipeline's. */
  metricsUrl: string;
  awsEndpoint: string;
  region: string;
  inputBucket: string;
  outputBucket: string;
  /** The DynamoDB table of csv-to-dynamodb (DYNAMODB_TABLE). */
  table: string;
  /** The daily report's Schedule, created with the worker (REPORT_SCHEDULE_TIME, REPORT_TIME_ZONE). */
  reportSchedule?: DailyReportSchedule;
  queueUrl: string;
  deadLetterQueueUrl: string;
  /** The environment the worker and ingress run with; tests reuse it for in-process clients. */
  env: Record<string, string>;
  aws: AwsClients;
  /** Kills the worker process with SIGKILL (a crash, in tests), then starts a new one and waits for it. */
  crashWorker(): Promise<void>;
  /** The worker process's ID, when the stack runs one (benchmarks read its peak memory). */
  workerPid(): number | undefined;
  /** Stops the Temporal dev server (an outage, in tests); with `durableTemporal`, its data stays. */
  stopTemporal(): Promise<void>;
  /** Starts the Temporal dev server again on the same port, with the data it had, and waits for it. */
  startTemporal(): Promise<void>;
  stop(): Promise<void>;
}

/** A component failed to start; the message names it and what to do. */
export class StackError extends ExplainedError {
  override name = 'StackError';
}

const READY_TIMEOUT_MS = 90_000;

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

interface Managed {
  name: string;
  child: ChildProcess;
  /** Recent output, for the error message when it dies. */
  tail(): string;
  exited: Promise<number | null>;
}

/** The processes a stack started, in start order, and where their output goes. */
interface Children {
  started: Managed[];
  log: (line: string) => void;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` until it returns true, the process dies, or the deadline passes. */
async function waitUntil(
  what: string,
  proc: Managed | undefined,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError = '';
  let delay = 50;
  while (Date.now() < deadline) {
    if (proc && proc.child.exitCode !== null) {
      throw new StackError(`${what} exited with code ${proc.child.exitCode} while starting:\n${proc.tail()}`);
    }
    try {
      if (await check()) return;
    } catch (err) {
      lastError = (err as Error).message;
    }
    await pause(delay);
    delay = Math.min(delay * 2, 500);
  }
  throw new StackError(
    `${what} was not ready after ${READY_TIMEOUT_MS / 1000}s${lastError ? ` (last error: ${lastError})` : ''}` +
      (proc ? `\n${proc.tail()}` : ''),
  );
}

/** Starts a child process, logging its output lines under its name; {@link Children} keeps it for the stop. */
function launch(
  children: Children,
  name: string,
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
): Managed {
  const child = spawn(cmd, args, { env, cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const onData = (chunk: Buffer) => {
    const text = chunk.toString('utf8');
    tail = (tail + text).slice(-8192);
    for (const line of text.split('\n')) if (line.trim()) children.log(`${name} | ${line}`);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.once('error', (err) => {
      tail += `\n${err.message}`;
      resolve(-1);
    });
  });
  const managed = { name, child, tail: () => tail, exited };
  children.started.push(managed);
  return managed;
}

/** SIGTERM, and SIGKILL if the process is still running 15 s later. */
async function terminate(p: Managed): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 15_000);
    await p.exited;
    clearTimeout(timer);
  }
}

export async function startStack(options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? (() => {});
  const children: Children = { started: [], log };
  const connections: Connection[] = [];
  /** Temporal's database, with `durableTemporal`. */
  let dataDir: string | undefined;
  let aws: AwsClients | undefined;
  const killAll = () => children.started.forEach((p) => p.child.exitCode === null && p.child.kill('SIGKILL'));
  process.once('exit', killAll);

  const stop = async () => {
    for (const c of connections) await c.close().catch(() => {});
    aws?.s3.destroy();
    aws?.sqs.destroy();
    // Reverse order: ingress and worker first, the servers last.
    for (const p of [...children.started].reverse()) await terminate(p);
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    process.removeListener('exit', killAll);
  };

  try {
    const tools = ensureTools(log);
    const ports = await choosePorts(options);
    const temporalAddress = `127.0.0.1:${ports.temporal}`;
    const namespace = 'default';
    const region = 'us-east-1';
    const awsEndpoint = `http://127.0.0.1:${ports.moto}`;

    log(`starting Temporal dev server on ${temporalAddress} and moto on ${awsEndpoint}`);
    if (options.durableTemporal) dataDir = mkdtempSync(join(tmpdir(), 'temporal-'));
    const temporalArgs = await temporalServerArgs(ports, dataDir);
    let temporalProc = launch(children, 'temporal', tools.temporal, temporalArgs, process.env);
    const motoProc = launchMoto(children, tools.motoPython, ports.moto, options.motoEnv);
    const zipkin = options.traces
      ? await launchZipkin(children, options.ports?.zipkin ?? 9411, log)
      : undefined;
    const temporalReady = async () => {
      const conn = await connectToTemporal(temporalProc, temporalAddress, namespace);
      connections.push(conn);
      return conn;
    };
    const connection = await temporalReady();
    await waitUntil('moto server', motoProc, async () => (await fetch(`${awsEndpoint}/moto-api/`)).ok);

    const credentials = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    Object.assign(process.env, { ...credentials, AWS_REGION: region });
    aws = createAwsClients({ AWS_REGION: region, AWS_ENDPOINT_URL: awsEndpoint });
    const { queueUrl, deadLetterQueueUrl } = await provision(
      aws,
      STACK_NAMES,
      options.queueVisibilityTimeoutSeconds ?? 60,
    );

    const env: Record<string, string> = {
      ...credentials,
      AWS_REGION: region,
      AWS_ENDPOINT_URL: awsEndpoint,
      TEMPORAL_ADDRESS: temporalAddress,
      TEMPORAL_NAMESPACE: namespace,
      TEMPORAL_CONFIG_FILE: join(REPO_ROOT, 'config', 'temporal.local.toml'),
      TEMPORAL_TASK_QUEUE: DEFAULTS.taskQueue,
      QUEUE_URL: queueUrl,
      INPUT_BUCKETS: STACK_NAMES.inputBucket,
      OUTPUT_BUCKET: STACK_NAMES.outputBucket,
      DYNAMODB_TABLE: STACK_NAMES.table,
      METRICS_ADDRESS: `127.0.0.1:${ports.metrics}`,
      ...(zipkin
        ? { OTEL_TRACES_EXPORTER: 'zipkin', OTEL_EXPORTER_ZIPKIN_ENDPOINT: `${zipkin}/api/v2/spans` }
        : {}),
      ...options.env,
    };
    const processes =
      (options.processes ?? true) ? await startProcesses(children, connection, namespace, env) : undefined;

    return {
      temporalAddress,
      namespace,
      taskQueue: env.TEMPORAL_TASK_QUEUE!,
      ...(ports.ui ? { uiUrl: `http://localhost:${ports.ui}` } : {}),
      metricsUrl: `http://${env.METRICS_ADDRESS}/metrics`,
      ...(zipkin ? { tracesUrl: `${zipkin}/zipkin/` } : {}),
      awsEndpoint,
      region,
      inputBucket: STACK_NAMES.inputBucket,
      outputBucket: STACK_NAMES.outputBucket,
      table: STACK_NAMES.table,
      ...(processes ? { reportSchedule: processes.reportSchedule } : {}),
      queueUrl,
      deadLetterQueueUrl,
      env,
      aws,
      crashWorker: () =>
        processes ? processes.crashWorker() : Promise.reject(new Error('this stack runs no worker process')),
      workerPid: () => processes?.workerPid(),
      stopTemporal: () => terminate(temporalProc),
      startTemporal: async () => {
        temporalProc = launch(children, 'temporal', tools.temporal, temporalArgs, process.env);
        await temporalReady();
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The ports asked for, checked free, and free ones for the rest; the UI's only with `options.ui`. */
async function choosePorts(
  options: StackOptions,
): Promise<{ temporal: number; moto: number; metrics: number; ui?: number }> {
  const want = options.ports ?? {};
  for (const [name, port] of Object.entries(want)) {
    if (port !== undefined && !(await portIsFree(port))) {
      throw new StackError(
        `port ${port} (${name}) is in use: another "npm run dev" or Temporal server may be running. Stop it, or choose another port.`,
      );
    }
  }
  const temporal = want.temporal ?? (await freePort());
  const moto = want.moto ?? (await freePort());
  const metrics = want.metrics ?? (await freePort());
  const ui = options.ui ? (want.ui ?? (await freePort())) : undefined;
  return { temporal, moto, metrics, ...(ui ? { ui } : {}) };
}

/**
 * The command line of the Temporal dev server, the same for each start: on 127.0.0.1, quiet, with the
 * pipeline's search attributes, its data in `dataDir` if given (else in memory), the web UI only on `ports.ui`.
 */
async function temporalServerArgs(ports: { temporal: number; ui?: number }, dataDir: string | undefined) {
  return [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(ports.temporal),
    '--http-port',
    String(await freePort()),
    '--metrics-port',
    String(await freePort()),
    '--log-level',
    'error',
    ...(dataDir ? ['--db-filename', join(dataDir, 'temporal.db')] : []),
    ...(ports.ui ? ['--ui-port', String(ports.ui), '--ui-disable-news-fetch'] : ['--headless']),
    ...Object.values(SA).flatMap((key) => [
      '--search-attribute',
      `${key.name}=${searchAttributeTypeName(key.type)}`,
    ]),
  ];
}

/** Waits for the dev server to serve the namespace with the pipeline's search attributes; its connection. */
async function connectToTemporal(proc: Managed, address: string, namespace: string): Promise<Connection> {
  let conn: Connection | undefined;
  await waitUntil('Temporal dev server', proc, async () => {
    conn ??= await Connection.connect({ address, connectTimeout: 1000 });
    const { customAttributes } = await conn.operatorService.listSearchAttributes({ namespace });
    return Object.values(SA).every((key) => customAttributes?.[key.name] !== undefined);
  });
  return conn!;
}

/** The moto server, the AWS emulator, on 127.0.0.1:`port`. */
function launchMoto(
  children: Children,
  python: string,
  port: number,
  motoEnv: Record<string, string> | undefined,
): Managed {
  return launch(children, 'moto', python, ['-m', 'moto.server', '-H', '127.0.0.1', '-p', String(port)], {
    ...process.env,
    PYTHONUNBUFFERED: '1',
    ...motoEnv,
  });
}

/** Zipkin (in memory) on 127.0.0.1:`port`, waited for; its address. */
async function launchZipkin(children: Children, port: number, log: (line: string) => void): Promise<string> {
  if (!(await portIsFree(port))) {
    throw new StackError(`port ${port} (zipkin) is in use: stop what runs there, or start without --traces.`);
  }
  const { java, jar } = await ensureZipkin(log);
  const address = `http://127.0.0.1:${port}`;
  const proc = launch(children, 'zipkin', java, ['-jar', jar], {
    ...process.env,
    QUERY_PORT: String(port),
  });
  await waitUntil('zipkin', proc, async () => (await fetch(`${address}/health`)).ok);
  return address;
}

/**
 * The worker and the ingress as child processes, each waited for (the worker until it polls its task queues,
 * the ingress until it says it polls), then the daily report's Schedule.
 */
async function startProcesses(
  children: Children,
  connection: Connection,
  namespace: string,
  env: Record<string, string>,
) {
  const taskQueue = env.TEMPORAL_TASK_QUEUE!;
  const childEnv = { ...withoutTemporalConnection(process.env), ...env }; // no user profile, no inherited key
  const node = (entry: string) =>
    [process.execPath, ['--import', 'tsx', join(REPO_ROOT, entry)], childEnv] as const;
  const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;
  const polled = async (name: string, taskQueueType: temporal.api.enums.v1.TaskQueueType) => {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace,
      taskQueue: { name },
      taskQueueType,
    });
    return (pollers?.length ?? 0) > 0;
  };
  let worker: Managed | undefined;
  const startWorker = async () => {
    worker = launch(children, 'worker', ...node('workers/main.ts'));
    await waitUntil(
      'worker',
      worker,
      async () =>
        (await polled(taskQueue, TASK_QUEUE_TYPE_WORKFLOW)) &&
        (await polled(computeTaskQueue(taskQueue), TASK_QUEUE_TYPE_ACTIVITY)) &&
        (await polled(inlineTaskQueue(taskQueue), TASK_QUEUE_TYPE_ACTIVITY)),
    );
  };
  await startWorker();
  const ingress = launch(children, 'ingress', ...node('ingress/main.ts'));
  await waitUntil('ingress', ingress, () => Promise.resolve(ingress.tail().includes(INGRESS_READY_MESSAGE)));
  const { REPORT_SCHEDULE_TIME, REPORT_TIME_ZONE } = loadConfig('the local stack', SCHEDULE_VARIABLES);
  const reportSchedule: DailyReportSchedule = { time: REPORT_SCHEDULE_TIME, timeZone: REPORT_TIME_ZONE };
  await ensureDailyReportSchedule(new Client({ connection, namespace }), taskQueue, reportSchedule);
  return {
    reportSchedule,
    /** Kills the worker with SIGKILL, then starts a new one and waits for it. */
    async crashWorker() {
      worker?.child.kill('SIGKILL');
      await worker?.exited;
      await startWorker();
    },
    workerPid: () => worker?.child.pid,
  };
}

/** The dev server's spelling of a search attribute type (`--search-attribute Name=Keyword`). */
function searchAttributeTypeName(type: SearchAttributeType): string {
  const names: Record<SearchAttributeType, string> = {
    TEXT: 'Text',
    KEYWORD: 'Keyword',
    INT: 'Int',
    DOUBLE: 'Double',
    BOOL: 'Bool',
    DATETIME: 'Datetime',
    KEYWORD_LIST: 'KeywordList',
  };
  return names[type];
}

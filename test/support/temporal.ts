/** One Temporal dev server per test file, from the project's pinned CLI, with the project's search attributes. */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  bundleWorkflowCode,
  DefaultLogger,
  Runtime,
  Worker,
  type NativeConnection,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { computeTaskQueue, inlineTaskQueue, SA } from '../../contract/workflow';
import { ensureTools } from '../../scripts/tools';

/** @param dynamicConfig server settings, e.g. lowered limits: `{ 'limit.historyCount.error': 2000 }`. */
export function createTestEnvironment(
  dynamicConfig: Record<string, number | string> = {},
): Promise<TestWorkflowEnvironment> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  return TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: ensureTools().temporal },
      ip: '127.0.0.1',
      searchAttributes: Object.values(SA),
      extraArgs: [
        '--log-level',
        'error',
        ...Object.entries(dynamicConfig).flatMap(([name, value]) => [
          '--dynamic-config-value',
          `${name}=${JSON.stringify(value)}`,
        ]),
      ],
    },
  });
}

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow bundle, built once per test file (bundling takes seconds; workers are created per test). */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietLogger });
  return bundle;
}

const quietLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: (message: string) => process.stderr.write(`${message}\n`),
};

/**
 * Runs `fn` while workers poll the workflow task queue and the compute task queue with `activities`
 * (as the worker process does), then shuts them down.
 */
export async function withWorkers<T>(
  connection: NativeConnection,
  taskQueue: string,
  activities: object,
  fn: () => Promise<T>,
): Promise<T> {
  const [main, ...others] = await Promise.all([
    Worker.create({
      connection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities,
    }),
    Worker.create({ connection, taskQueue: computeTaskQueue(taskQueue), activities }),
    Worker.create({ connection, taskQueue: inlineTaskQueue(taskQueue), activities }),
  ]);
  const runs = others.map((w) => w.run());
  try {
    return await main.runUntil(fn);
  } finally {
    for (const w of others) w.shutdown();
    await Promise.all(runs);
  }
}

/**
 * The container health checks of the worker, the ingress and the console, as `node -e` programs run in the image's
 * working directory (/app) with the container's environment. The Dockerfiles carry the same text in their
 * HEALTHCHECK (docker run, docker compose) and the ECS task definitions pass it as their health check (ECS
 * ignores HEALTHCHECK); test/containers.test.ts checks that both say the same.
 *
 * Each check connects to Temporal exactly as the process does (same variables and temporal.toml profile, same
 * `common/temporal` code) and asks about the task queue, so it fails on a wrong address, an expired API key or a missing
 * namespace, not only on a dead process. The worker's check also requires that this container itself polls
 * the task queue: the SDK names a worker `PID@HOSTNAME`, and the check runs in the same container, so it
 * looks for a poller whose identity ends with `@` + its hostname. Temporal lists recent pollers for a few
 * minutes, so a worker that stops polling turns unhealthy within minutes and ECS replaces it.
 */

const connectAndDescribeTaskQueue = [
  "const { Connection } = require('@temporalio/client');",
  "const { loadConfig, TEMPORAL_ENV } = require('./dist/common/config');",
  "const { temporalConnection } = require('./dist/common/temporal');",
  "const c = loadConfig('healthcheck', TEMPORAL_ENV);",
  'const t = temporalConnection();',
  'Connection.connect({ ...t.connectionOptions, connectTimeout: 5000 })',
  '.then((conn) => conn.workflowService.describeTaskQueue({ namespace: t.namespace, taskQueue: { name: c.TEMPORAL_TASK_QUEUE }, taskQueueType: 1 }))',
].join(' ');

const failOnError = ".catch((e) => { console.error('unhealthy: ' + e.message); process.exit(1); });";

/** Healthy when this container's worker is among the pollers of the workflow task queue. */
export const WORKER_HEALTHCHECK = [
  connectAndDescribeTaskQueue,
  ".then(({ pollers }) => { const me = '@' + require('node:os').hostname(); if (!(pollers ?? []).some((p) => String(p.identity).endsWith(me))) throw new Error('this worker does not poll ' + c.TEMPORAL_TASK_QUEUE); process.exit(0); })",
  failOnError,
].join(' ');

/** Healthy when Temporal answers for the namespace and task queue with the ingress's credentials. */
export const INGRESS_HEALTHCHECK = [
  connectAndDescribeTaskQueue,
  '.then(() => process.exit(0))',
  failOnError,
].join(' ');

/**
 * Healthy when the console answers its `/healthz`, the path the load balancer checks too: it answers while
 * Temporal does (console/app.tsx).
 */
export const CONSOLE_HEALTHCHECK = [
  "fetch('http://127.0.0.1:' + (process.env.CONSOLE_PORT || 8080) + '/healthz')",
  ".then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); process.exit(0); })",
  failOnError,
].join(' ');

/** Timing shared by the Dockerfiles and the ECS task definitions. */
export const HEALTHCHECK_TIMING = {
  intervalSeconds: 30,
  timeoutSeconds: 10,
  /** Start-up (loading the workflow bundle, first poll) does not count against the retries. */
  startPeriodSeconds: 60,
  retries: 3,
} as const;

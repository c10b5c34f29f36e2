/**
 * One file's trace (common/tracing.ts): the ingress's hand-over span is the root; under it the client's
 * SignalWithStart, the workflow run, each activity's start and run; the compute activity hands its own span to
 * the processor in TRACEPARENT, and the processor, a process of its own, exports its span under it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ROOT_CONTEXT } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { ObjectInfo } from '../activities/objects';
import { summarize } from '../activities/staging';
import { inSpan, traceContextEnvironment } from '../common/tracing';
import { startTracing, type Tracing } from '../common/tracing-sdk';
import { computeTaskQueue, inlineTaskQueue, messageReceivedSignal } from '../contract/workflow';
import { processFile } from '../workflows/process-file';
import { eventually } from './support/eventually';
import { DEFAULT_SCHEMA, stubActivities } from './support/stubs';
import { createTestEnvironment } from './support/temporal';
import { REPO_ROOT } from '../scripts/tools';

const INFO: ObjectInfo = {
  bucket: 'in',
  key: 'traced/a.csv',
  size: 42,
  etag: 'e1',
  metadata: {},
  schema: DEFAULT_SCHEMA,
};

describe('one file, one trace', () => {
  let env: TestWorkflowEnvironment;
  let tracing: Tracing;
  const spans = new InMemorySpanExporter();

  before(async () => {
    env = await createTestEnvironment();
    tracing = startTracing('test', {}, new SimpleSpanProcessor(spans));
  });
  after(async () => {
    await tracing?.shutdown();
    await env?.teardown();
  });

  it('nests the workflow, its activities and the processor hand-over under the hand-over of the notification', async () => {
    const taskQueue = `trace-${randomUUID()}`;
    let handedToProcessor: Record<string, string> = {};
    const activities = {
      ...stubActivities(INFO),
      runProcessor: async () => {
        handedToProcessor = traceContextEnvironment();
        return {
          backend: 'inline',
          runId: 'r1',
          awsRequest: {},
          destination: { bucket: 'out', key: 'outputs/traced/a.csv' },
          stats: { rowsIn: 1 },
          summary: summarize([{ rowsIn: 1, rowsOut: 1, rowsRejected: 0 }]),
        };
      },
    };
    const common = { connection: env.nativeConnection, activities, plugins: [tracing.plugin] };
    const workers = await Promise.all([
      Worker.create({ ...common, taskQueue, workflowsPath: require.resolve('../workflows') }),
      Worker.create({ ...common, taskQueue: computeTaskQueue(taskQueue) }),
      Worker.create({ ...common, taskQueue: inlineTaskQueue(taskQueue) }),
    ]);
    const client = new Client({ connection: env.connection, plugins: [tracing.plugin] });
    const [main, ...others] = workers;
    const runs = others.map((w) => w.run());
    await main.runUntil(
      inSpan(tracing.tracer, 'notification s3://in/traced/a.csv', ROOT_CONTEXT, {}, async () => {
        const handle = await client.workflow.signalWithStart(processFile, {
          workflowId: `file-${randomUUID()}`,
          taskQueue,
          args: [{ object: { bucket: 'in', key: INFO.key, etag: 'e1' }, options: {} }],
          signal: messageReceivedSignal,
          signalArgs: [
            { queueUrl: 'http://q', messageId: 'm1', receiptHandle: 'h1', receiveCount: 1, body: '{}' },
          ],
        });
        await handle.result();
      }),
    );
    for (const w of others) w.shutdown();
    await Promise.all(runs);

    const all = await eventually('the workflow span', async () => {
      const finished = spans.getFinishedSpans();
      return finished.some((s) => s.name === 'RunWorkflow:processFile') ? finished : undefined;
    });
    const byId = new Map(all.map((s) => [s.spanContext().spanId, s]));
    const chain = (span: ReadableSpan): string[] => {
      const parent = span.parentSpanId ? byId.get(span.parentSpanId) : undefined;
      return [...(parent ? chain(parent) : []), span.name];
    };
    const named = (name: string) => {
      const span = all.find((s) => s.name === name);
      assert.ok(span, `a span ${name} among ${all.map((s) => s.name).join(', ')}`);
      return span;
    };
    const root = [
      'notification s3://in/traced/a.csv',
      'SignalWithStartWorkflow:processFile',
      'RunWorkflow:processFile',
    ];
    for (const activity of ['inspectObject', 'runProcessor', 'finishFile']) {
      assert.deepEqual(chain(named(`RunActivity:${activity}`)), [
        ...root,
        `StartActivity:${activity}`,
        `RunActivity:${activity}`,
      ]);
    }
    const traceIds = new Set(all.map((s) => s.spanContext().traceId));
    assert.equal(traceIds.size, 1, 'one trace');
    // X-Ray takes a span only if its trace ID starts with the trace's second.
    const [traceId] = traceIds;
    assert.ok(Math.abs(parseInt(traceId!.slice(0, 8), 16) - Date.now() / 1000) < 600, traceId);
    const run = named('RunActivity:runProcessor').spanContext();
    assert.equal(handedToProcessor.TRACEPARENT, `00-${run.traceId}-${run.spanId}-01`);
  });

  describe('the processor, a process of its own', () => {
    let server: Server;
    const received: { traceId: string; parentId?: string; id: string; name: string }[] = [];
    let dir: string;
    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'trace-'));
      server = createServer((req, res) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d.toString('utf8')));
        req.on('end', () => {
          received.push(...(JSON.parse(body) as typeof received));
          res.writeHead(202).end();
        });
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    after(() => {
      server?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('continues TRACEPARENT: its span has the activity as parent, and is sent before it exits', async () => {
      const input = join(dir, 'in.csv');
      writeFileSync(input, 'transaction_id,amount\nTX-1,1.00\n');
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const parent = '00f067aa0ba902b7';
      const { port } = server.address() as AddressInfo;
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          join(REPO_ROOT, 'processors/main.ts'),
          '--job',
          'csv-transform',
          input,
          join(dir, 'out.csv'),
        ],
        {
          env: {
            ...process.env,
            TRACEPARENT: `00-${traceId}-${parent}-01`,
            OTEL_TRACES_EXPORTER: 'zipkin',
            OTEL_EXPORTER_ZIPKIN_ENDPOINT: `http://127.0.0.1:${port}/api/v2/spans`,
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      assert.equal(code, 0, stderr);
      const span = received.find((s) => s.name === 'processor csv-transform');
      assert.ok(span, `the processor's span among ${JSON.stringify(received)}`);
      assert.equal(span.traceId, traceId);
      assert.equal(span.parentId, parent);
    });
  });
});

/**
 * The console as its container runs it behind the load balancer (infra/lib/operator-console.ts): `/healthz`,
 * which the load balancer and the image's health check call, follows Temporal; with `CONSOLE_ORIGIN` its forms
 * accept the public origin the browser sends, not the task's own address the request arrives at.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { S3Client } from '@aws-sdk/client-s3';
import { SQSClient } from '@aws-sdk/client-sqs';
import { Client, Connection } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { createConsoleApp } from '../console/app';
import type { ConsoleDeps } from '../console/file';
import { createTestEnvironment } from './support/temporal';

/** Where nothing listens: the AWS clients are never called by these routes. */
const NOWHERE = 'http://127.0.0.1:9';
const PUBLIC_ORIGIN = 'https://console.pipeline.example.com';
/** The task's address the load balancer forwards to. */
const TASK = 'http://10.0.3.17:8080';

describe('the console behind its load balancer', () => {
  let env: TestWorkflowEnvironment;
  const deps = (client: Client): ConsoleDeps => ({
    client,
    s3: new S3Client({ region: 'us-east-1', endpoint: NOWHERE }),
    sqs: new SQSClient({ region: 'us-east-1', endpoint: NOWHERE }),
    queueUrl: `${NOWHERE}/123456789012/pipeline-events`,
    deadLetterQueueUrl: `${NOWHERE}/123456789012/pipeline-events-dlq`,
    origin: PUBLIC_ORIGIN,
  });

  before(async () => {
    env = await createTestEnvironment();
  });
  after(async () => {
    await env?.teardown();
  });

  it('is healthy while Temporal answers, and says so when it does not', async () => {
    const up = await createConsoleApp(deps(env.client)).request(`${TASK}/healthz`);
    assert.equal(up.status, 200);
    assert.equal(await up.text(), 'ok');

    const connection = Connection.lazy({ address: '127.0.0.1:1', connectTimeout: 1000 });
    try {
      const down = await createConsoleApp(deps(new Client({ connection }))).request(`${TASK}/healthz`);
      assert.equal(down.status, 503);
      assert.match(await down.text(), /^unhealthy: Temporal does not answer/);
    } finally {
      await connection.close();
    }
  });

  it('accepts a form from its public origin, and refuses one from anywhere else', async () => {
    const app = createConsoleApp(deps(env.client));
    const post = (origin: string) =>
      app.request(`${TASK}/file/redrive`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'id=file%3Anowhere',
      });
    // Past the check: the redrive itself answers (no such workflow).
    const fromPublic = await post(PUBLIC_ORIGIN);
    assert.notEqual(fromPublic.status, 403);
    assert.equal((await post(TASK)).status, 403, 'the task address is not where browsers are');
    assert.equal((await post('https://evil.example')).status, 403);
  });
});

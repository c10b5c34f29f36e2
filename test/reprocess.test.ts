/**
 * `reprocess` on the local stack, through the CLI and the real worker process (whose AWS calls the permission
 * proof evaluates): versions already processed are skipped, `--force` reruns them all. Its history limits and
 * concurrency on stubbed activities: test/reprocess-limits.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { workflowIdFor } from '../common/ids';
import { unquoteEtag, type ObjectRef } from '../contract/objects';
import { forcedWorkflowId, reprocessProgressQuery } from '../contract/reprocess';
import { SA } from '../contract/workflow';
import { awaitWorkflow } from '../scripts/pipeline-client';
import { followReprocess, startReprocess } from '../scripts/reprocess';
import { STACK_NAMES } from '../scripts/stack';
import { REPO_ROOT } from '../scripts/tools';
import type { reprocess } from '../workflows/reprocess';
import { startEndToEnd, type EndToEnd } from './support/end-to-end';

/**
 * A versioned input bucket, as the deployed one is, without notifications: the test notifies the files it wants
 * processed first itself, with their versionIds, through the queue and the ingress.
 */
const BUCKET = 'pipeline-reprocess';
const DAY = '2026-01-15';
const WAIT_MS = 120_000;

describe('reprocess on the local stack, through the worker process', () => {
  let world: EndToEnd;
  before(async () => {
    world = await startEndToEnd('reprocess-test', {
      env: { INPUT_BUCKETS: [STACK_NAMES.inputBucket, BUCKET].join(',') },
    });
    const { s3 } = world.stack.aws;
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await s3.send(
      new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }),
    );
  });
  after(() => world?.stop());

  async function put(key: string, body: string): Promise<ObjectRef> {
    const out = await world.stack.aws.s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
    return {
      bucket: BUCKET,
      key,
      etag: unquoteEtag(out.ETag!),
      versionId: out.VersionId!,
      size: body.length,
    };
  }

  /** The CLI as a process, against the stack; its exit code and output. */
  function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/reprocess.ts', ...args], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: world.stack.temporalAddress,
        TEMPORAL_NAMESPACE: world.stack.namespace,
        TEMPORAL_TASK_QUEUE: world.stack.taskQueue,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  it('reprocessing a date of 50 objects, 20 of them processed, starts 30 and skips 20; --force reruns all 50', async () => {
    const { client, stack } = world;
    const prefix = `raw-data/${DAY}/`;
    const files: ObjectRef[] = [];
    // The first key has an older version (not listed: only the latest is), and beside the day are a deleted
    // key (a delete marker, not listed) and the next day's object (another prefix).
    await put(`${prefix}f-00.csv`, 'id,n\nold,0\n');
    for (let i = 0; i < 50; i++)
      files.push(await put(`${prefix}f-${String(i).padStart(2, '0')}.csv`, `id,n\n${i},${i}\n`));
    await put(`${prefix}gone.csv`, 'id\n1\n');
    await stack.aws.s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: `${prefix}gone.csv` }));
    await put(`raw-data/2026-01-16/f-00.csv`, 'id\n1\n');

    // Twenty processed through the notification path.
    const processed = files.slice(0, 20);
    for (const ref of processed)
      await stack.aws.sqs.send(
        new SendMessageCommand({
          QueueUrl: stack.queueUrl,
          MessageBody: JSON.stringify({
            Records: [
              {
                eventVersion: '2.1',
                eventSource: 'aws:s3',
                eventName: 'ObjectCreated:Put',
                s3: {
                  bucket: { name: BUCKET },
                  object: { key: ref.key, size: ref.size, eTag: ref.etag, versionId: ref.versionId },
                },
              },
            ],
          }),
        }),
      );
    const firstRuns = new Map<string, string>();
    for (const ref of processed) {
      const outcome = await awaitWorkflow(client, ref, WAIT_MS);
      assert.equal(outcome.status, 'completed', JSON.stringify(outcome));
      firstRuns.set(
        workflowIdFor(ref),
        (await client.workflow.getHandle(workflowIdFor(ref)).describe()).runId,
      );
    }

    const run = await cli(['--date', DAY, '--bucket', BUCKET]);
    assert.equal(run.code, 0, run.stderr);
    const id = /^workflow: (.+)$/m.exec(run.stdout)?.[1];
    assert.ok(id, run.stdout);
    assert.match(
      run.stdout,
      /^done: 50 listed, 30 started, 20 skipped \(already processed or running\), 30 succeeded, 0 failed, 0 in flight$/m,
    );
    const handle = client.workflow.getHandle<typeof reprocess>(id);
    const progress = await handle.query(reprocessProgressQuery);
    assert.deepEqual(
      { ...progress },
      {
        stage: 'done',
        bucket: BUCKET,
        prefix,
        force: false,
        listed: 50,
        started: 30,
        skipped: 20,
        succeeded: 30,
        failed: 0,
        inFlight: 0,
        listingDone: true,
        cancelled: false,
      },
    );
    const attributes = (await handle.describe()).typedSearchAttributes;
    assert.deepEqual(
      [SA.stage, SA.itemsTotal, SA.itemsStarted, SA.itemsSkipped, SA.itemsDone, SA.itemsFailed].map((k) =>
        attributes.get(k),
      ),
      ['done', 50, 30, 20, 30, 0],
    );
    // The twenty kept their only run; the thirty have one each now, under the notification path's IDs.
    for (const ref of files) {
      const description = await client.workflow.getHandle(workflowIdFor(ref)).describe();
      assert.equal(description.status.name, 'COMPLETED', ref.key);
      const first = firstRuns.get(workflowIdFor(ref));
      if (first) assert.equal(description.runId, first, `${ref.key} was not run again`);
    }

    const forced = await startReprocess(client, stack.taskQueue, { bucket: BUCKET, prefix, force: true });
    const final = await followReprocess(forced, () => {});
    assert.deepEqual(
      [final.listed, final.started, final.skipped, final.succeeded, final.failed],
      [50, 50, 0, 50, 0],
    );
    for (const ref of files) {
      const description = await client.workflow
        .getHandle(forcedWorkflowId(forced.workflowId, workflowIdFor(ref)))
        .describe();
      assert.equal(description.status.name, 'COMPLETED', ref.key);
      assert.equal(description.type, 'processFile');
    }
  });

  it('skips what the notifications processed in an unversioned bucket too, where the ETag names the version', async () => {
    const { client, stack } = world;
    const refs: ObjectRef[] = [];
    for (let i = 0; i < 3; i++) {
      const key = `unversioned/f-${i}.csv`;
      const body = `id\n${i}\n`;
      const out = await stack.aws.s3.send(
        new PutObjectCommand({ Bucket: stack.inputBucket, Key: key, Body: body }),
      );
      refs.push({ bucket: stack.inputBucket, key, etag: unquoteEtag(out.ETag!), size: body.length });
    }
    // The input bucket notifies the queue itself.
    for (const ref of refs) assert.equal((await awaitWorkflow(client, ref, WAIT_MS)).status, 'completed');
    const handle = await startReprocess(client, stack.taskQueue, {
      bucket: stack.inputBucket,
      prefix: 'unversioned/',
    });
    const final = await followReprocess(handle, () => {});
    assert.deepEqual([final.listed, final.started, final.skipped], [3, 0, 3]);
  });

  it('names the fix of bad arguments and of a missing bucket', async () => {
    const both = await cli(['--date', DAY, '--prefix', 'x/', '--bucket', BUCKET]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /give either --prefix or --date/);
    const date = await cli(['--date', '2026-02-30', '--bucket', BUCKET]);
    assert.match(date.stderr, /--date 2026-02-30 is not a calendar date: write it YYYY-MM-DD/);
    // An input bucket of the configuration that does not exist: the run fails at once, naming it.
    const missing = await cli(['--prefix', 'x/', '--bucket', 'pipeline-deleted']);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /bucket pipeline-deleted does not exist, so s3:\/\/pipeline-deleted\/x\/ cannot be reprocessed: name an input bucket \(--bucket\)/,
    );
  });
});

/**
 * The console's Upload page in headless Chromium against the whole local stack: a CSV file goes from the page
 * straight to the input bucket and on to its file's page and output; a file no job reads is refused in the page;
 * the presigned POST's policy admits the file it was made for and nothing else.
 *
 * moto (5.x) stores what a POST sends without checking its policy or signature, so the policy is checked here
 * the way S3 checks it: every condition met, and every form field named by a condition.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import type { Page } from 'playwright-core';
import type { RunningConsole } from '../console/serve';
import { STACK_NAMES } from '../scripts/stack';
import { REPO_ROOT } from '../scripts/tools';
import type { EndToEnd } from './support/end-to-end';
import {
  assertOutputDownload,
  startConsoleInBrowser,
  type ConsoleInBrowser,
} from './support/console-browser';

const SAMPLE = join(REPO_ROOT, 'scripts/samples/transactions.csv');
const SETTLED_MS = 60_000;
/** A small limit, so that a file over it is cheap to describe. */
const MAX_BYTES = 1024 * 1024;

type Condition = Record<string, string> | [string, string | number, string | number];

/** Whether S3 would take a POST of `fields` and a file of `size` bytes under `policy` (its conditions only). */
function policyAdmits(policy: string, fields: Record<string, string>, size: number): boolean {
  const { conditions } = JSON.parse(Buffer.from(policy, 'base64').toString('utf8')) as {
    conditions: Condition[];
  };
  const named = new Set<string>();
  const met = conditions.every((c) => {
    if (!Array.isArray(c)) {
      const [name, value] = Object.entries(c)[0]!;
      named.add(name.toLowerCase());
      return fields[name] === value;
    }
    const [op, a, b] = c;
    if (op === 'content-length-range') return size >= Number(a) && size <= Number(b);
    const name = String(a).replace(/^\$/, '');
    named.add(name.toLowerCase());
    return op === 'eq' ? fields[name] === b : (fields[name] ?? '').startsWith(String(b));
  });
  // S3 exempts the signature and the policy itself; any other field must be named by a condition.
  const exempt = new Set(['policy', 'x-amz-signature', 'file']);
  return met && Object.keys(fields).every((f) => exempt.has(f.toLowerCase()) || named.has(f.toLowerCase()));
}

describe("the console's Upload page, in headless Chromium", () => {
  let world: ConsoleInBrowser;
  let e2e: EndToEnd;
  let operatorConsole: RunningConsole;
  let page: Page;

  before(async () => {
    world = await startConsoleInBrowser('console-upload', {
      upload: { bucket: STACK_NAMES.inputBucket, maxBytes: MAX_BYTES },
    });
    ({ e2e, operatorConsole, page } = world);
  });
  after(async () => {
    await world?.stop();
  });

  /** What the page asks the console for a file, posted from the console's own origin. */
  const ask = (form: Record<string, string>) =>
    fetch(`${operatorConsole.url}/upload`, {
      method: 'POST',
      headers: { origin: operatorConsole.url, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });

  it('uploads a CSV file from the page straight to the bucket, then its page downloads its output', async () => {
    const name = `upload-${randomUUID()}.csv`;
    const file = join(e2e.dir, name);
    copyFileSync(SAMPLE, file);
    await page.goto(`${operatorConsole.url}/upload`);
    await page.getByLabel('File', { exact: true }).setInputFiles(file);
    await page.getByLabel('Processor type').selectOption('inline');
    await page.getByRole('button', { name: 'Upload' }).click();
    const link = page.getByRole('link', { name: 'Open its page' });
    await link.waitFor({ timeout: SETTLED_MS });
    const progress = page.locator('#upload-progress');
    assert.equal(await progress.getAttribute('value'), await progress.getAttribute('max'));
    const status = await page.getByRole('status').innerText();
    const key = /Uploaded (uploads\/\d{4}-\d{2}-\d{2}\/\S+) \(csv-transform\)/.exec(status)?.[1];
    assert.equal(key, `uploads/${new Date().toISOString().slice(0, 10)}/${name}`);
    const head = await e2e.stack.aws.s3.send(
      new HeadObjectCommand({ Bucket: e2e.stack.inputBucket, Key: key }),
    );
    assert.equal(head.ContentLength, 443);
    assert.deepEqual(head.Metadata, { 'processor-type': 'inline' });

    await link.click();
    await page.getByRole('heading', { name: 'Rows' }).waitFor({ timeout: SETTLED_MS });
    assert.match((await page.locator('dl.facts').allInnerTexts()).join('\n'), /Status\s+Completed/);
    await assertOutputDownload(page, e2e, key);
  });

  it('refuses in the page a file no job reads, naming the extensions that are read', async () => {
    const name = `refused-${randomUUID()}.xlsx`;
    const file = join(e2e.dir, name);
    copyFileSync(SAMPLE, file);
    await page.goto(`${operatorConsole.url}/upload`);
    await page.getByLabel('File', { exact: true }).setInputFiles(file);
    await page.getByRole('button', { name: 'Upload' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    assert.equal(
      await alert.innerText(),
      `Not uploaded: no job takes ${name}: its extension .xlsx is none of .csv, .txt, .md, .log.`,
    );
    const listed = await e2e.stack.aws.s3.send(
      new ListObjectsV2Command({ Bucket: e2e.stack.inputBucket, Prefix: 'uploads/' }),
    );
    assert.equal(
      listed.Contents?.find((o) => o.Key!.endsWith(name)),
      undefined,
    );
  });

  it('refuses a job that does not read the file, a bad metadata value and a file over the limit', async () => {
    const refusal = async (form: Record<string, string>) => {
      const res = await ask({ name: 'data.csv', size: '100', type: 'text/csv', ...form });
      assert.equal(res.status, 422);
      return ((await res.json()) as { refused: string }).refused;
    };
    assert.equal(
      await refusal({ name: 'notes.txt', job: 'csv-validate' }),
      'Not uploaded: csv-validate reads .csv files, not notes.txt (.txt).',
    );
    assert.equal(
      await refusal({ 'chunk-size': '12 parsecs' }),
      'Not uploaded: x-amz-meta-chunk-size is "12 parsecs", expected a size of at least 1 KiB, e.g. 8MiB or 8388608.',
    );
    assert.equal(
      await refusal({ size: String(2 * MAX_BYTES) }),
      'Not uploaded: data.csv is 2 MiB: the console uploads files up to 1 MiB.',
    );
  });

  it('presigns a POST whose policy admits that file only: its key, size, type and metadata', async () => {
    const res = await ask({
      name: 'big.csv',
      size: '2048',
      type: 'text/csv',
      'processor-type': 'pool',
      job: 'csv-validate',
      'chunk-size': '64MiB',
      'tolerated-failure-percent': '5',
    });
    assert.equal(res.status, 200);
    const post = (await res.json()) as { url: string; fields: Record<string, string>; key: string };
    assert.equal(post.url, `${e2e.stack.awsEndpoint}/${e2e.stack.inputBucket}`);
    const { fields } = post;
    assert.deepEqual(
      Object.fromEntries(Object.entries(fields).filter(([k]) => /^(key|content-type|x-amz-meta-)/i.test(k))),
      {
        key: post.key,
        'Content-Type': 'text/csv',
        'x-amz-meta-processor-type': 'pool',
        'x-amz-meta-job': 'csv-validate',
        'x-amz-meta-chunk-size': '64MiB',
        'x-amz-meta-tolerated-failure-percent': '5',
      },
    );
    const admits = (changed: Record<string, string>, size = 2048) =>
      policyAdmits(fields.Policy!, { ...fields, ...changed }, size);
    assert.ok(admits({}), 'the file it was made for');
    assert.ok(!admits({}, MAX_BYTES + 1), 'larger than the limit');
    assert.ok(!admits({ key: 'uploads/elsewhere.csv' }), 'another key');
    assert.ok(!admits({ 'Content-Type': 'application/pdf' }), 'another type');
    assert.ok(!admits({ 'x-amz-meta-job': 'csv-transform' }), 'other metadata');
    assert.ok(!admits({ 'x-amz-meta-schema': 'other' }), 'more metadata');
  });

  it('refuses an upload asked for from another site', async () => {
    const res = await fetch(`${operatorConsole.url}/upload`, {
      method: 'POST',
      headers: { origin: 'https://elsewhere.example', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'name=a.csv&size=1',
    });
    assert.equal(res.status, 403);
  });
});

/**
 * The operator's console in a real browser (headless Chromium) against the whole local stack: the file list
 * follows a file live; a file's page shows its report and downloads its output (a PDF that opens), a chunked
 * file's chunk counts while it runs, a failure with its fix (a broken CSV: its line) and is redriven from its
 * page; a filter it cannot apply is named; a cross-site form post is refused.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { workflowIdFor } from '../common/ids';
import type { RunningConsole } from '../console/serve';
import { uploadFile } from '../scripts/pipeline-client';
import { REPO_ROOT } from '../scripts/tools';
import { TRANSACTIONS_HEADER, writeTransactions } from '../scripts/transactions';
import type { ObjectRef } from '../contract/objects';
import type { EndToEnd } from './support/end-to-end';
import {
  assertOutputDownload,
  startConsoleInBrowser,
  type ConsoleInBrowser,
} from './support/console-browser';

const SAMPLE = join(REPO_ROOT, 'scripts/samples/transactions.csv');
const NOTES = join(REPO_ROOT, 'scripts/samples/release-notes.md');
/** The list and the file page refresh every 2 s: a file of 5 rows is done well within this. */
const SETTLED_MS = 60_000;

describe('the operator console, in headless Chromium', () => {
  let world: ConsoleInBrowser;
  let e2e: EndToEnd;
  let operatorConsole: RunningConsole;
  let page: Page;

  before(async () => {
    world = await startConsoleInBrowser('console');
    ({ e2e, operatorConsole, page } = world);
  });
  /** Opens the file's page once its workflow exists, and waits for it to show `status`. */
  const openFile = async (ref: ObjectRef, status = 'Completed|Failed') => {
    const id = workflowIdFor(ref);
    for (const deadline = Date.now() + SETTLED_MS; ; await page.waitForTimeout(200)) {
      const res = await page.goto(`${operatorConsole.url}/file?id=${encodeURIComponent(id)}`);
      if (res?.status() === 200) break;
      assert.ok(Date.now() < deadline, `no workflow ${id}`);
    }
    await page
      .locator('.status')
      .getByText(new RegExp(`^(${status})$`))
      .waitFor({ timeout: SETTLED_MS });
  };
  after(async () => {
    await world?.stop();
  });

  it('lists a CSV file as it runs, then its page shows its rows and downloads its output', async () => {
    const key = `console/${randomUUID()}.csv`;
    await page.goto(`${operatorConsole.url}/files?prefix=console/`);
    await uploadFile(e2e.stack.aws.s3, e2e.stack.inputBucket, key, SAMPLE);
    // No reload: the list fetches its rows again while a file runs, and the new file appears in it.
    const row = page.getByRole('row').filter({ hasText: key });
    await row.getByText('Completed').waitFor({ timeout: SETTLED_MS });
    assert.match(await row.innerText(), /443 B\s+inline\s+csv-transform\s+done\s+–\s+Completed\s+inline/);

    await row.getByRole('link', { name: key }).click();
    await page.getByRole('heading', { name: 'Rows' }).waitFor();
    const facts = await page.locator('dl.facts').allInnerTexts();
    assert.match(facts.join('\n'), /In\s+5\s+Out\s+5\s+Rejected\s+0/);
    await assertOutputDownload(page, e2e, key);
  });

  it("shows a failed file's failure and the failure table's fix, and redrives it", async () => {
    const key = `console/${randomUUID()}.xlsx`;
    const ref = await uploadFile(e2e.stack.aws.s3, e2e.stack.inputBucket, key, SAMPLE);
    await page.goto(`${operatorConsole.url}/files?prefix=console/&status=Failed`);
    const link = page.getByRole('link', { name: key });
    await link.waitFor({ timeout: SETTLED_MS });
    await link.click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    const text = await alert.innerText();
    assert.match(text, /Failed: UnknownJob/);
    assert.match(text, new RegExp(`no job for s3://${ref.bucket}/${key}: its extension matches no job`));
    assert.match(text, /Fix: Set x-amz-meta-job to one of the jobs its message lists/);

    // Redrive from the page: a new run of the same workflow, started by the console.
    const runId = async () => page.locator('.subtitle code').nth(1).innerText();
    const first = await runId();
    await page.getByRole('button', { name: 'Redrive' }).click();
    await page.waitForURL(/\/file\?id=/);
    const second = await runId();
    assert.notEqual(second, first);
    const handle = e2e.client.workflow.getHandle(workflowIdFor(ref), second);
    assert.match((await (await handle.describe()).staticDetails()) ?? '', /\*\*Started by:\*\* the console/);
  });

  it("downloads a PDF job's output that opens as a PDF", async () => {
    const key = `console/${randomUUID()}.md`;
    const ref = await uploadFile(e2e.stack.aws.s3, e2e.stack.inputBucket, key, NOTES);
    await openFile(ref);
    const href = await page.getByRole('link', { name: 'Output' }).getAttribute('href');
    const pdf = await (await page.request.get(href!)).body();
    const pdfjs = await import('pdfjs-dist/legacy/build/pdf.mjs');
    const doc = await pdfjs.getDocument({ data: new Uint8Array(pdf), verbosity: 0 }).promise;
    assert.ok(doc.numPages >= 1, `${doc.numPages} pages`);
    await doc.destroy();
  });

  it('shows why a broken CSV failed, with its line number', async () => {
    const key = `console/${randomUUID()}.csv`;
    const file = join(e2e.dir, 'broken.csv');
    writeFileSync(
      file,
      `${TRANSACTIONS_HEADER}\nt1,a1,2026-01-02,1.00,EUR,shop,food\n"t2"x,a2,2026-01-02,2.00,EUR,shop,food\n`,
    );
    const ref = await uploadFile(e2e.stack.aws.s3, e2e.stack.inputBucket, key, file);
    await openFile(ref);
    const alert = await page.getByRole('alert').innerText();
    assert.match(alert, /Failed: InvalidInput/);
    assert.match(alert, /invalid CSV on line 3: unexpected 'x' after the closing quote/);
  });

  it("shows a chunked file's chunk counts while it runs", async () => {
    const key = `console/${randomUUID()}.csv`;
    const file = join(e2e.dir, 'chunked.csv');
    await writeTransactions(file, 512 * 1024);
    // About 32 chunks, one at a time, each a process of its own: the file runs for many refreshes of its page.
    const ref = await uploadFile(e2e.stack.aws.s3, e2e.stack.inputBucket, key, file, {
      processorType: 'on-demand',
      metadata: { 'chunk-size': '16KiB', 'max-concurrency': '1' },
    });
    await openFile(ref, 'Running');
    // The page as it refreshes itself: the chunk counts shown while the file is still Running.
    const running = await page.waitForFunction(
      () => {
        // In the page (the tests compile without the DOM's types); a function, as the page's CSP forbids eval.
        const { document } = globalThis as unknown as {
          document: { querySelector(selector: string): { textContent: string | null } | null };
        };
        const status = document.querySelector('.status')?.textContent;
        const label = document.querySelector('label[for="chunk-progress"]')?.textContent;
        return status === 'Running' && label ? label.trim() : undefined;
      },
      undefined,
      { timeout: SETTLED_MS, polling: 100 },
    );
    const counts = /^Chunks: (\d+) of (\d+) done/.exec(String(await running.jsonValue()))!;
    assert.ok(Number(counts[2]) >= 30 && Number(counts[1]) < Number(counts[2]), counts[0]);
    await page.locator('.status').getByText('Completed').waitFor({ timeout: SETTLED_MS });
    assert.equal(
      await page.locator('label[for="chunk-progress"]').innerText(),
      `Chunks: ${counts[2]} of ${counts[2]} done`,
    );
  });

  it('names a filter it cannot apply instead of listing something else', async () => {
    const res = await page.goto(`${operatorConsole.url}/files?date=2026-13-45`);
    assert.equal(res?.status(), 400);
    assert.equal(
      await page.getByRole('alert').innerText(),
      'Not filtered: date is "2026-13-45": expected YYYY-MM-DD.',
    );
  });

  it('refuses a form posted from another site', async () => {
    const post = (origin: string) =>
      fetch(`${operatorConsole.url}/files`, {
        method: 'POST',
        headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
        body: 'x=1',
      });
    assert.equal((await post('https://elsewhere.example')).status, 403);
    assert.equal((await post(operatorConsole.url)).status, 404, 'its own origin passes the check');
  });
});

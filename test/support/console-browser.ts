/**
 * The console's browser tests' world: the whole local stack, the console on it, and one page of headless
 * Chromium; and the check that a download link of the console serves the output the pipeline stored.
 */
import assert from 'node:assert/strict';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import type { Browser, Page } from 'playwright-core';
import type { RunningConsole } from '../../console/serve';
import { launchChromium } from '../../scripts/browser';
import { startStackConsole } from '../../scripts/stack-console';
import { startEndToEnd, type EndToEnd } from './end-to-end';

export interface ConsoleInBrowser {
  e2e: EndToEnd;
  operatorConsole: RunningConsole;
  page: Page;
  stop(): Promise<void>;
}

/** Starts the stack (scratch folder `name`), the console on it with `options`, and a browser page. */
export async function startConsoleInBrowser(
  name: string,
  options: Parameters<typeof startStackConsole>[2] = {},
): Promise<ConsoleInBrowser> {
  const e2e = await startEndToEnd(name);
  let operatorConsole: RunningConsole | undefined;
  let browser: Browser | undefined;
  const stop = async () => {
    await browser?.close();
    await operatorConsole?.close();
    await e2e.stop();
  };
  try {
    operatorConsole = await startStackConsole(e2e.stack, e2e.client, options);
    browser = await launchChromium();
    return { e2e, operatorConsole, page: await browser.newPage(), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The page's `Output` link downloads exactly `outputs/KEY` as the output bucket holds it. */
export async function assertOutputDownload(page: Page, e2e: EndToEnd, key: string): Promise<void> {
  const href = await page.getByRole('link', { name: 'Output' }).getAttribute('href');
  const downloaded = await page.request.get(href!);
  assert.equal(downloaded.status(), 200);
  const stored = await e2e.stack.aws.s3.send(
    new GetObjectCommand({ Bucket: e2e.stack.outputBucket, Key: `outputs/${key}` }),
  );
  assert.equal(await downloaded.text(), await stored.Body!.transformToString('utf8'));
}

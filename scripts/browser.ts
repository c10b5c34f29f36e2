/** Headless Chromium for the browser tests and the screenshots: Debian's `chromium` (CHROMIUM_PATH overrides), driven by playwright-core. */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export async function launchChromium(): Promise<Browser> {
  const executablePath = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(
      `no Chromium at ${executablePath}: the browser tests and the screenshots need Debian's chromium (apt-get install chromium) ` +
        'or CHROMIUM_PATH naming another Chromium build.',
    );
  }
  return chromium.launch({
    executablePath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

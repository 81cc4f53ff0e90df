/**
 * Launches Debian's Chromium through playwright-core for browser tests. Never downloads a browser:
 * the executable is `/usr/bin/chromium` (installed by `.ci/run`) or `$FEDERA_CHROMIUM`.
 *
 * On a machine without Chromium the browser tests are skipped (`BROWSER_SKIP` is the reason to
 * pass as a test's `skip` option), unless `FEDERA_REQUIRE_BROWSER=1` (set by `.ci/run`): then a
 * missing browser is a failure. scripts/run-tests.mjs prints the one line that says so.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { within } from './deadline.js';

export const CHROMIUM_PATH = process.env.FEDERA_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** True when browser tests must run (CI): a missing Chromium then fails them instead of skipping. */
export const BROWSER_REQUIRED = process.env.FEDERA_REQUIRE_BROWSER === '1';

/** The one-line reason browser tests are skipped, or `false` when they run. */
export const BROWSER_SKIP: string | false =
  !BROWSER_REQUIRED && !existsSync(CHROMIUM_PATH)
    ? `Chromium not found at ${CHROMIUM_PATH}: install it (apt-get install chromium) or set FEDERA_CHROMIUM=/path/to/chromium to run the browser tests`
    : false;

/** Starts headless Chromium; throws a clear error when the executable is missing. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install chromium) or set FEDERA_CHROMIUM${BROWSER_REQUIRED ? ' (FEDERA_REQUIRE_BROWSER=1: browser tests may not be skipped)' : ''}`);
  }
  return within(chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true, timeout: 60_000 }), 90_000, `Chromium at ${CHROMIUM_PATH} to start`);
}

/**
 * Closes `browser` within `timeoutMs`. A browser that does not close in time is left to
 * playwright's exit handler, which SIGKILLs its process group when this process exits (the test
 * runner's --test-force-exit makes sure it does).
 */
export async function closeBrowser(browser: Browser | undefined, timeoutMs = 15_000): Promise<void> {
  if (!browser) return;
  await within(browser.close(), timeoutMs, 'Chromium to close').catch((e: Error) => {
    process.stderr.write(`${e.message}; it is killed when this test process exits\n`);
  });
}

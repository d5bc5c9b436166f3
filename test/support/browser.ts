// Functions the tests run inside the page (page.evaluate) use the DOM's
// types, and the page's own API (window.faultlineView).
/// <reference lib="dom" />
/**
 * A real browser for the run page's tests: Debian's Chromium, headless,
 * driven by playwright-core (Playwright's own browser download cannot work
 * here). Each browser gets a fresh profile and the flags that keep Chromium
 * from reaching out to Google's services; every page opened records its
 * console errors, uncaught exceptions and any request for something other
 * than the page's own file, so tests can assert there were none.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ROOT } from "./programs.ts";
export type { PageApi } from "../../src/view/client/main.ts";

export const CHROMIUM = "/usr/bin/chromium";

const FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

/** Most a browser operation may take before the test fails (a loaded CI
 * machine is slow; a hung page must not hang the suite). */
export const BROWSER_TIME_LIMIT_MS = 20_000;

/** Where the tests keep screenshots of the pages they saw. */
export const SCREENSHOTS = join(ROOT, "test", "build", "screenshots");

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function openBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`the run page's tests need Debian's chromium at ${CHROMIUM}: apt-get install -y chromium (.ci/run installs it)`);
  const profile = mkdtempSync(join(tmpdir(), "faultline-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1400, height: 1000 },
    timeout: BROWSER_TIME_LIMIT_MS,
  });
  context.setDefaultTimeout(BROWSER_TIME_LIMIT_MS);
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export interface OpenedPage {
  page: Page;
  /** Console errors and uncaught exceptions, in order. */
  errors: string[];
  /** Requests for anything but the page file itself. */
  requests: string[];
}

/** Open a page file and wait until its script has drawn it. */
export async function openPage(browser: Browser, file: string): Promise<OpenedPage> {
  const page = await browser.context.newPage();
  const url = pathToFileURL(file).href;
  const opened: OpenedPage = { page, errors: [], requests: [] };
  page.on("console", (message) => {
    if (message.type() === "error") opened.errors.push(message.text());
  });
  page.on("pageerror", (error) => opened.errors.push(error.message));
  page.on("request", (request) => {
    if (request.url() !== url) opened.requests.push(request.url());
  });
  await page.goto(url);
  await page.waitForSelector("body[data-ready=true]");
  return opened;
}

/** Keep a picture of the page, for people looking into a failure. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

// Functions the tests run inside the page (page.evaluate) use the DOM's
// types, and the page's own API (window.faultlineView).
/// <reference lib="dom" />
/**
 * A real browser for the run page's tests: Chromium, headless, driven by
 * playwright-core (Playwright's own browser download cannot work here),
 * found as `findChromium` says. Each browser gets a fresh profile and the flags that keep Chromium
 * from reaching out to Google's services; every page opened records its
 * console errors, uncaught exceptions and any request for something other
 * than the page's own file, so tests can assert there were none.
 */
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, isAbsolute, join } from "node:path";
import { pathToFileURL } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { ROOT } from "./programs.ts";
export type { PageApi } from "../../src/view/client/main.ts";

/** The environment variable naming the browser to use, where it is not
 * one of CHROMIUM_NAMES on PATH. */
export const CHROMIUM_VARIABLE = "FAULTLINE_CHROMIUM";
/** Set (to anything but empty or 0) where the browser tests must run: a
 * missing browser then fails them instead of skipping them (.ci/run). */
export const REQUIRE_CHROMIUM_VARIABLE = "FAULTLINE_REQUIRE_CHROMIUM";
/** The names Chromium is installed under (Debian, Ubuntu, Google's). */
export const CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome"] as const;

/** Where the browser was looked for, for the line that says none was found. */
export const CHROMIUM_LOOKUP = `$${CHROMIUM_VARIABLE}, or ${CHROMIUM_NAMES.join(", ")} on PATH`;

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/**
 * The browser to drive: the path in $FAULTLINE_CHROMIUM if set (a name
 * without a slash is looked up on PATH), else the first of CHROMIUM_NAMES
 * found on PATH, else null. `isExecutable` is the file check, replaceable
 * for tests.
 */
export function findChromium(env: Record<string, string | undefined> = process.env, isExecutable: (path: string) => boolean = isExecutableFile): string | null {
  const onPath = (name: string): string | null => {
    if (name.includes("/")) return isExecutable(name) ? name : null;
    for (const dir of (env.PATH ?? "").split(delimiter)) {
      if (!isAbsolute(dir)) continue;
      const candidate = join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
    return null;
  };
  const named = env[CHROMIUM_VARIABLE]?.trim();
  if (named) return onPath(named);
  for (const name of CHROMIUM_NAMES) {
    const found = onPath(name);
    if (found) return found;
  }
  return null;
}

/** Whether this run must have a browser (CI): a missing one then fails the
 * browser tests rather than skipping them. */
export function chromiumRequired(env: Record<string, string | undefined> = process.env): boolean {
  const value = env[REQUIRE_CHROMIUM_VARIABLE];
  return value !== undefined && value !== "" && value !== "0";
}

/** The one line said when no browser was found. */
export function noChromiumLine(what: string): string {
  return `no Chromium found (${CHROMIUM_LOOKUP}): ${what}; install one (Debian: apt-get install -y chromium) or set ${CHROMIUM_VARIABLE}`;
}

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

/** Start the browser findChromium finds; an Error saying where it looked
 * when there is none. */
export async function openBrowser(executablePath: string | null = findChromium()): Promise<Browser> {
  if (executablePath === null) throw new Error(noChromiumLine("the run page cannot be drawn"));
  const profile = mkdtempSync(join(tmpdir(), "faultline-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
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

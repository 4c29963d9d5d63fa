/**
 * Debian's Chromium (`apt-get install chromium`) driven by playwright-core: never a downloaded
 * browser. Headless, offline-safe flags (../shared/docs/platform.md): without the
 * background-networking ones Chromium keeps trying to reach Google's hosts. playwright's launch()
 * gives every browser a new, empty profile directory.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { ROOT, type Stack, startStack } from "../../scripts/stack.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const ARTIFACTS = join(ROOT, "out/test-artifacts");

export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (scripts/setup.sh does)`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

export interface StackPage {
  stack: Stack;
  browser: Browser;
  page: Page;
  /** Closes the browser, stops the stack (again, if a test stopped it) and removes its state. */
  close(): Promise<void>;
}

/**
 * The local stack (`npm start`'s, state in a temp folder) and Chromium, started together, with one
 * 1280x900 page; the stack's and the page's errors go to `logs`, for a failing test to print.
 */
export async function openStackPage(gpuEnv: Record<string, string>, logs: string[]): Promise<StackPage> {
  const persist = mkdtempSync(join(tmpdir(), "gmcnn-browser-"));
  const [stack, browser] = await Promise.all([
    startStack({ persistTo: persist, gpuEnv, log: (src, line) => logs.push(`[${src}] ${line}`) }),
    launchChromium(),
  ]);
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on("pageerror", (e) => logs.push(`[page] ${e.message}`));
  const close = async () => {
    await browser.close();
    await stack.stop();
    rmSync(persist, { recursive: true, force: true });
  };
  return { stack, browser, page, close };
}

/** A mouse stroke across the widget's canvas, from and to fractions of its box, in `steps` moves. */
export async function dragStroke(page: Page, from: [number, number], to: [number, number], steps: number) {
  const box = (await page.locator("gmcnn-inpaint canvas.paint").boundingBox())!;
  const at = (f: [number, number]) => [box.x + box.width * f[0], box.y + box.height * f[1]] as const;
  await page.mouse.move(...at(from));
  await page.mouse.down();
  for (let i = 1; i <= steps; i++)
    await page.mouse.move(...at([from[0] + ((to[0] - from[0]) * i) / steps, from[1] + ((to[1] - from[1]) * i) / steps]));
  await page.mouse.up();
}

/** Saves a screenshot under out/test-artifacts/ (kept after the run, for people to look at). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

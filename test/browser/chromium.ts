/**
 * Debian's Chromium (`apt-get install chromium`) driven by playwright-core: never a downloaded
 * browser. Headless, offline-safe flags (../shared/docs/platform.md): without the
 * background-networking ones Chromium keeps trying to reach Google's hosts. playwright's launch()
 * gives every browser a new, empty profile directory.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { ROOT } from "../../scripts/stack.ts";

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

/** Saves a screenshot under out/test-artifacts/ (kept after the run, for people to look at). */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

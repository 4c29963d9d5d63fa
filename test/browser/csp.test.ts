/**
 * Issue 20, item 5: the security headers' CSP in a real browser (Debian's Chromium) against the
 * real local stack (wrangler dev with the static assets and their _headers; no GPU is needed):
 * /docs (Swagger UI) renders and / (the demo page with the <gmcnn-inpaint> widget) starts, with
 * no CSP violation reported by the page (securitypolicyviolation events) or the console, and
 * neither can be framed by another origin.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Stack, startStack } from "../../scripts/stack.ts";
import { launchChromium } from "./chromium.ts";

let stack: Stack | undefined;
let browser: Browser;
let persist: string;

beforeAll(async () => {
  persist = mkdtempSync(join(tmpdir(), "gmcnn-csp-"));
  [stack, browser] = await Promise.all([
    startStack({ persistTo: persist, gpuUrl: `http://127.0.0.1:${await freePort()}`, log: () => {} }),
    launchChromium(),
  ]);
}, 300_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  rmSync(persist, { recursive: true, force: true });
});

/** A page that records every CSP violation, from the DOM event and from the console. */
async function watched(): Promise<{ page: Page; violations: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const violations: string[] = [];
  await page.exposeFunction("__cspViolation", (v: string) => violations.push(v));
  await page.addInitScript(() => {
    document.addEventListener("securitypolicyviolation", (e) =>
      (window as unknown as { __cspViolation(v: string): void }).__cspViolation(
        `${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`,
      ),
    );
  });
  page.on("console", (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) violations.push(`console: ${m.text()}`);
  });
  return { page, violations };
}

describe("the CSP lets the product's own pages work", () => {
  it("/docs: Swagger UI renders every route with no CSP violation; the page cannot be framed", async () => {
    const { page, violations } = await watched();
    const res = await page.goto(`${stack?.edgeUrl}/docs`);
    expect(res?.headers()["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
    expect(res?.headers()["x-frame-options"]).toBe("DENY");
    await page.waitForSelector(".swagger-ui .opblock", { timeout: 60_000 });
    expect(await page.locator(".swagger-ui .opblock").count()).toBeGreaterThan(10);
    expect(violations).toEqual([]);
    await page.close();
  });

  it("/: the demo page and its widget start with no CSP violation; the page's headers carry the policy", async () => {
    const { page, violations } = await watched();
    const res = await page.goto(`${stack?.edgeUrl}/`);
    const h = res?.headers() ?? {};
    expect(h["content-security-policy"]).toMatch(/frame-ancestors 'none'/);
    expect(h["x-content-type-options"]).toBe("nosniff");
    expect(h["cross-origin-opener-policy"]).toBe("same-origin");
    await page.waitForFunction(() => !!customElements.get("gmcnn-inpaint"), undefined, { timeout: 60_000 });
    // The widget has drawn its shadow root (its inline <style> is allowed).
    await page.waitForFunction(() => !!document.querySelector("gmcnn-inpaint")?.shadowRoot?.querySelector("style"));
    await page.waitForLoadState("networkidle");
    expect(violations).toEqual([]);
    await page.close();
  });

  it("another origin's page cannot frame / or /docs", async () => {
    const { page } = await watched();
    const other = stack?.edgeUrl.replace("127.0.0.1", "localhost") ?? "";
    await page.goto(`${other}/healthz`);
    await page.setContent(`<iframe src="${stack?.edgeUrl}/"></iframe><iframe src="${stack?.edgeUrl}/docs"></iframe>`);
    // Chromium replaces a frame refused by frame-ancestors / X-Frame-Options with its error page.
    const frames = () =>
      page
        .frames()
        .filter((f) => f !== page.mainFrame())
        .map((f) => f.url());
    await expect.poll(frames, { timeout: 30_000 }).toEqual(["chrome-error://chromewebdata/", "chrome-error://chromewebdata/"]);
    await page.close();
  });
});

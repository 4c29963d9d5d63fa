/**
 * The widget as a person meets it (issue 21, items 1-7; issue 22, the in-page part), in Debian's
 * Chromium against the real local stack: no model download before it is asked for; shortcuts
 * without focus; a file that is not a picture keeps the photo and its marks; a picture over the
 * API's limits is refused at load and can be downscaled in the page; server runs report their
 * stages with an ETA and Cancel (button or Escape) aborts the request or cancels the job; in the
 * page, an estimate from a tiny timed run (WASM SIMD + threads) before the run, and Cancel
 * terminates the model's worker; at 390 px a zoom control and touch instructions.
 * Screenshots: out/test-artifacts/ux-*.png.
 */
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeImage } from "../../gpu-jobs/codecs.ts";
import type { Stack } from "../../scripts/stack.ts";
import { DEFAULT_UPLOAD_LIMITS } from "../../shared/schemas/limits.ts";
import type { Edit } from "../../web/widget/edits.ts";
import { checkLimits, DEFAULT_LIMITS, fitSize } from "../../web/widget/limits.ts";
import { photo } from "../e2e/images.ts";
import { dragStroke, openStackPage, type StackPage, screenshot } from "./chromium.ts";

type Ev = { type: string; detail: Record<string, unknown>; t: number };

let stack: Stack;
let browser: Browser;
let page: Page;
/** Requests for the in-page model or its runtime, in order. */
const modelFetches: string[] = [];
const logs: string[] = [];

/** Every gmcnn:* event the page saw, collected on window (they bubble and are composed). */
const COLLECT = () => {
  const w = window as unknown as { gmcnnEvents: unknown[] };
  w.gmcnnEvents = [];
  for (const t of ["load", "limit", "change", "submit", "progress", "estimate", "model", "result", "cancel", "error"])
    window.addEventListener(`gmcnn:${t}`, (e) => {
      const d = { ...(e as CustomEvent).detail };
      delete d.blob;
      if (d.error) d.error = String(d.error.message);
      w.gmcnnEvents.push({ type: t, detail: d, t: performance.now() });
    });
};

let opened: StackPage | undefined;

beforeAll(async () => {
  opened = await openStackPage({ GMCNN_LOG: "0" }, logs);
  ({ stack, browser, page } = opened);
  await page.addInitScript(COLLECT);
  page.on("request", (r) => {
    if (/\/widget\/(models|ort)\//.test(r.url())) modelFetches.push(r.url());
  });
}, 300_000);

afterAll(async () => {
  await opened?.close();
});

const el = "gmcnn-inpaint";
const button = (action: string) => page.locator(`${el} button[data-action="${action}"]`);
const status = () => page.locator(`${el} .status .msg`).innerText();
const events = (type?: string): Promise<Ev[]> =>
  page.evaluate((t) => {
    const all = (window as unknown as { gmcnnEvents: Ev[] }).gmcnnEvents;
    return t ? all.filter((e) => e.type === t) : all;
  }, type);
const clearEvents = () => page.evaluate(() => ((window as unknown as { gmcnnEvents: unknown[] }).gmcnnEvents.length = 0));
/** Waits until an event of `type` (in one of `phases`, for progress) has been seen; returns it. */
async function waitEvent(type: string, phases?: string[], timeout = 240_000): Promise<Ev> {
  // A function, not a string: the pages' CSP (script-src 'self') forbids eval.
  const h = await page
    .waitForFunction(
      ({ type, phases }) =>
        (window as unknown as { gmcnnEvents: Ev[] }).gmcnnEvents.find(
          (e) => e.type === type && (!phases || phases.includes(e.detail.phase as string)),
        ) ?? null,
      { type, phases },
      { timeout, polling: 100 },
    )
    .catch(async (e) => {
      // Say where the widget stood: its status line and the last events.
      const seen = (await events()).slice(-8).map((x) => `${x.type} ${JSON.stringify(x.detail)}`);
      throw new Error(`no gmcnn:${type} ${phases ?? ""}: status "${await status()}"; last events:\n${seen.join("\n")}\n${e}`);
    });
  return (await h.jsonValue()) as Ev;
}
/** Runs `f` on the widget in the page (its source travels, so it may use only its argument). */
const widget = <T>(f: (w: HTMLElementTagNameMap["gmcnn-inpaint"]) => T) =>
  page.locator("gmcnn-inpaint").evaluate(f) as Promise<Awaited<T>>;

async function openDemo() {
  await page.goto(`${stack.edgeUrl}/`);
  await page.locator(`${el} .frame:not([hidden])`).waitFor({ timeout: 60_000 });
  await waitEvent("load", undefined, 60_000);
}

const stroke = (from: [number, number], to: [number, number], steps = 8) => dragStroke(page, from, to, steps);

const blur = () => page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());

describe("the widget's limits (pure)", () => {
  it("defaults are the API's, and the downscale lands under them", () => {
    expect(DEFAULT_LIMITS).toEqual(DEFAULT_UPLOAD_LIMITS);
    const c = checkLimits(25.8 * 1048576, 5000, 3340, DEFAULT_LIMITS);
    expect(c.over).toEqual(["pixels", "bytes"]);
    expect(c.message).toMatch(/5000 × 3340 \(16\.7 MP\).*8 MP.*25\.8 MB.*20\.0 MB/);
    const f = fitSize(5000, 3340, DEFAULT_LIMITS);
    expect(f.width * f.height).toBeLessThanOrEqual(8e6);
    expect(f.width * f.height).toBeGreaterThan(7.99e6);
    expect(fitSize(20000, 100, DEFAULT_LIMITS)).toEqual({ width: 12000, height: 60 });
  });
});

describe("in Chromium, against the local stack", () => {
  it("downloads no model before it is needed; shortcuts work without focus, not while typing in the page", async () => {
    await openDemo();
    // The idle preload used to start within 2 s: wait past it.
    await page.waitForTimeout(3000);
    expect(modelFetches).toEqual([]);
    const local = button("local");
    expect(await local.isVisible()).toBe(true);
    expect(await local.innerText()).toMatch(/Run in my browser \(\d+\.\d MB download\)/);
    // Nothing focused: the demo's widget is the page's main editor.
    await blur();
    expect(await page.evaluate(() => document.activeElement === document.body)).toBe(true);
    await page.keyboard.press("r");
    expect(await widget((w) => w.currentTool)).toBe("rect");
    await page.keyboard.press("e");
    expect(await widget((w) => w.currentTool)).toBe("eraser");
    await page.keyboard.press("b");
    await stroke([0.2, 0.2], [0.3, 0.25]);
    await blur();
    await page.keyboard.press("Control+z");
    expect(await widget((w) => w.edits.length)).toBe(0);
    await page.keyboard.press("Control+Shift+z");
    expect(await widget((w) => w.edits.length)).toBe(1);
    // Typing into the page's own field is the field's.
    await page.evaluate(() => {
      const i = document.createElement("input");
      i.id = "typing";
      document.body.append(i);
      i.focus();
    });
    await page.keyboard.type("re");
    expect(await widget((w) => w.currentTool)).toBe("brush");
    expect(await page.inputValue("#typing")).toBe("re");
    // Every control still has an accessible name; Cancel declares Escape.
    const unnamed = await page.evaluate(() =>
      Array.from(document.querySelector("gmcnn-inpaint")!.shadowRoot!.querySelectorAll("button, input"))
        .filter((e) => !(e.getAttribute("aria-label") || e.textContent?.trim() || e.closest("label")?.textContent?.trim()))
        .map((e) => e.outerHTML.slice(0, 80)),
    );
    expect(unnamed).toEqual([]);
    expect(await button("cancel").getAttribute("aria-keyshortcuts")).toBe("Escape");
  }, 180_000);

  it("a file that is not a picture keeps the photo and its marks; the error stays until the person acts", async () => {
    await openDemo();
    await stroke([0.5, 0.5], [0.6, 0.6]);
    const src = await page.locator(`${el} img.base`).getAttribute("src");
    await page.locator(`${el} input[type="file"]`).setInputFiles({
      name: "notes.txt",
      mimeType: "text/plain",
      buffer: Buffer.from("not a picture at all"),
    });
    await waitEvent("error");
    expect(await status()).toMatch(/“notes\.txt” is not a picture.*PNG, JPEG or WebP.*picture and marks are as they were/);
    expect(await page.locator(`${el} .status`).getAttribute("class")).toContain("error");
    expect(await page.locator(`${el} img.base`).getAttribute("src")).toBe(src);
    expect(await page.locator(`${el} .frame`).isVisible()).toBe(true);
    expect(await widget((w) => w.edits.length)).toBe(1);
    expect(await button("submit").isEnabled()).toBe(true);
    await page.waitForTimeout(2500);
    expect(await status()).toMatch(/not a picture/);
    await screenshot(page, "ux-bad-file");
    // Acting (a new mark) clears it.
    await stroke([0.3, 0.3], [0.35, 0.35]);
    expect(await status()).toMatch(/2 marks/);
  }, 120_000);

  it("checks megapixels and bytes when a picture is opened, and downscales in the page on request", async () => {
    await openDemo();
    await stroke([0.5, 0.5], [0.6, 0.6]);
    await clearEvents();
    // A 5000x3340 JPEG (16.7 MP), made in the page.
    await page.evaluate(async () => {
      const c = new OffscreenCanvas(5000, 3340);
      const g = c.getContext("2d")!;
      const grad = g.createLinearGradient(0, 0, 5000, 3340);
      grad.addColorStop(0, "#345");
      grad.addColorStop(1, "#fc8");
      g.fillStyle = grad;
      g.fillRect(0, 0, 5000, 3340);
      const blob = await c.convertToBlob({ type: "image/jpeg", quality: 0.8 });
      await document.querySelector("gmcnn-inpaint")!.load(blob);
    });
    const limit = await waitEvent("limit");
    expect(limit.detail).toMatchObject({ width: 5000, height: 3340, over: ["pixels"] });
    expect(await status()).toMatch(
      /16\.7 MP.*up to 8 MP.*downscaled here in your browser.*current picture and marks are as they were/,
    );
    // Nothing was replaced.
    expect(await widget((w) => [w.picture?.width, w.edits.length])).toEqual([600, 1]);
    const offer = page.locator(`${el} .offer button`).first();
    expect(await offer.innerText()).toMatch(/^Downscale to \d+ × \d+$/);
    await screenshot(page, "ux-limit-offer");
    await offer.click();
    const loaded = await waitEvent("load", undefined, 60_000);
    const { width, height } = loaded.detail as { width: number; height: number };
    expect(width * height).toBeLessThanOrEqual(8e6);
    expect(width / height).toBeCloseTo(5000 / 3340, 2);
    expect(await status()).toMatch(/^Downscaled in your browser from 5000 × 3340/);
    // Bytes: a deployment with a small MAX_UPLOAD_BYTES sets max-upload-bytes.
    await clearEvents();
    const png = await encodeImage(photo(320, 240), "png");
    await page.evaluate(async (bytes) => {
      const w = document.querySelector("gmcnn-inpaint")!;
      w.setAttribute("max-upload-bytes", String(Math.floor(bytes.length / 3)));
      await w.load(new Blob([new Uint8Array(bytes)], { type: "image/png" }));
    }, Array.from(png));
    expect((await waitEvent("limit")).detail.over).toEqual(["bytes"]);
    await page.locator(`${el} .offer button`).first().click();
    await waitEvent("load");
    const bytes = await widget((w) => w.picture?.bytes);
    expect(bytes).toBeLessThanOrEqual(Math.floor(png.length / 3));
    await page.evaluate(() => document.querySelector("gmcnn-inpaint")!.removeAttribute("max-upload-bytes"));
  }, 180_000);

  it("a server run reports its stages with an ETA; Escape cancels the job, Cancel aborts a request; Back resets the status", async () => {
    await openDemo();
    await stroke([0.52, 0.55], [0.62, 0.62]);
    await clearEvents();
    await button("submit").click();
    const done = await waitEvent("result");
    expect(done.detail.where).toBe("api");
    expect(done.detail.jobId).toMatch(/^job_/);
    const phases = (await events("progress")).map((e) => e.detail.phase);
    // The demo's token may create jobs: the server's stages come from polling the job.
    expect(phases[0]).toBe("sending");
    expect(phases).toContain("running");
    expect(phases).toContain("receiving");
    expect(await status()).toMatch(/^Done in/);
    // Escape on the result goes back; the status says where the person is (no stale "Done").
    await blur();
    await page.keyboard.press("Escape");
    expect(await page.locator(`${el} .compare`).isHidden()).toBe(true);
    expect(await status()).toMatch(/^Back to your marks/);

    // A new mark (a new request: not the cached result), then Escape while it runs.
    await stroke([0.2, 0.6], [0.3, 0.7]);
    const before = await widget((w) => JSON.stringify(w.edits));
    await clearEvents();
    await button("submit").click();
    const running = await waitEvent("progress", ["running", "queued"]);
    // The first run measured the speed: now there is an ETA.
    expect(running.detail.etaMs).toBeGreaterThan(0);
    expect(await status()).toMatch(/server.*(about \d+(\.\d)? s left|longer than measured)/);
    expect(await button("cancel").isVisible()).toBe(true);
    await screenshot(page, "ux-server-progress");
    await page.keyboard.press("Escape");
    const canceled = await waitEvent("cancel");
    expect(canceled.detail.where).toBe("api");
    const jobId = canceled.detail.jobId as string;
    expect(jobId).toMatch(/^job_/);
    // The job is canceled on the server, not just forgotten by the page.
    await expect
      .poll(
        async () =>
          (
            (await (
              await fetch(`${stack.edgeUrl}/v1/jobs/${jobId}`, { headers: { Authorization: `Bearer ${stack.apiKey}` } })
            ).json()) as {
              status: string;
            }
          ).status,
        { timeout: 20_000 },
      )
      .toBe("canceled");
    expect(await status()).toMatch(/^Canceled\. Your picture and marks are as they were/);
    expect(await widget((w) => JSON.stringify(w.edits))).toBe(before);
    expect(await page.locator(`${el} .compare`).isHidden()).toBe(true);
    expect(await button("submit").isEnabled()).toBe(true);
    expect(await button("cancel").isHidden()).toBe(true);
    expect(await events("result")).toEqual([]);

    // One request (server-mode="request"): the Cancel button aborts the fetch.
    await page.evaluate(() => document.querySelector("gmcnn-inpaint")!.setAttribute("server-mode", "request"));
    await stroke([0.7, 0.2], [0.8, 0.3]);
    await clearEvents();
    await button("submit").click();
    await waitEvent("progress", ["running"]);
    await button("cancel").click();
    expect((await waitEvent("cancel")).detail).toMatchObject({ where: "api", phase: "running" });
    await page.waitForTimeout(1000);
    expect(await events("result")).toEqual([]);
    expect(await widget((w) => w.running)).toBe(false);
    await page.evaluate(() => document.querySelector("gmcnn-inpaint")!.removeAttribute("server-mode"));
  }, 300_000);

  it("network errors say what to do, not a raw URL", async () => {
    await openDemo();
    await page.evaluate(() => document.querySelector("gmcnn-inpaint")!.setAttribute("local-inference", "off"));
    await page.route("**/v1/jobs", (r) => r.abort("connectionrefused"));
    try {
      await stroke([0.4, 0.4], [0.45, 0.45]);
      await button("submit").click();
      await waitEvent("error", undefined, 60_000);
      const msg = await status();
      expect(msg).toMatch(/can't be reached\. Check your connection and press Remove again/);
      expect(msg).not.toMatch(/https?:|Failed to fetch/);
    } finally {
      await page.unroute("**/v1/jobs");
    }
  }, 120_000);

  it("in the page: the model downloads only when asked, an estimate from a tiny timed run comes first, Cancel terminates the worker", async () => {
    await openDemo();
    expect(modelFetches).toEqual([]);
    const png = await encodeImage(photo(192, 144), "png");
    const mark: Edit = {
      tool: "brush",
      width: 14,
      points: [
        [60, 50],
        [110, 80],
      ],
    };
    await page.evaluate(
      async ({ bytes, mark }) => {
        const w = document.querySelector("gmcnn-inpaint")!;
        await w.load(new Blob([new Uint8Array(bytes)], { type: "image/png" }));
        w.addEdits(mark);
        // Ask before any run, whatever the estimate: the offer is what is tested here.
        w.setAttribute("local-confirm-seconds", "0.001");
      },
      { bytes: Array.from(png), mark },
    );
    await clearEvents();
    await button("local").click();
    const est = await waitEvent("estimate");
    // Downloaded now, with progress.
    expect(modelFetches.some((u) => u.includes("/widget/models/"))).toBe(true);
    const dl = (await events("progress")).filter((e) => e.detail.phase === "model-download" && Number(e.detail.total) > 0);
    expect(dl.length).toBeGreaterThan(0);
    // WASM with SIMD and threads (the demo page is cross-origin isolated).
    expect(est.detail).toMatchObject({ simd: true, crossOriginIsolated: true, sampleSide: 128 });
    expect(est.detail.threads).toBeGreaterThanOrEqual(2);
    expect(est.detail.backend).toMatch(/^wasm \(SIMD, \d threads\)$/);
    expect(est.detail.estimateMs).toBeGreaterThan(0);
    console.log(
      `in-page estimate: ${est.detail.estimateMs} ms for ${est.detail.pixels} px (128x128 sample ${est.detail.sampleMs} ms, ${est.detail.backend})`,
    );
    // The estimate is shown, with the server offered.
    await page.locator(`${el} .offer button`).first().waitFor();
    expect(await status()).toMatch(
      /^This will take about \d+(\.\d)? s in your browser \(wasm \(SIMD, \d threads\); measured on a 128×128 test run\)/,
    );
    const choices = await page.locator(`${el} .offer button`).allInnerTexts();
    expect(choices[0]).toMatch(/^Run in my browser \(~/);
    expect(choices[1]).toMatch(/server/);
    await screenshot(page, "ux-local-estimate");
    await page.locator(`${el} .offer button`).first().click();
    await waitEvent("progress", ["inpainting"]);
    expect(await widget((w) => (w as unknown as { local: { alive: boolean } }).local.alive)).toBe(true);
    await button("cancel").click();
    expect((await waitEvent("cancel")).detail).toMatchObject({ where: "browser", phase: "inpainting" });
    // The worker (and its threads) is gone; the editor is as it was.
    expect(await widget((w) => (w as unknown as { local: { alive: boolean } }).local.alive)).toBe(false);
    expect(await widget((w) => [w.edits.length, w.running, !!w.resultBlob])).toEqual([1, false, false]);
    expect(await status()).toMatch(/^Canceled/);
    // A fresh worker runs it to the end (the model comes from Cache Storage now).
    const fetched = modelFetches.length;
    await page.evaluate(() => document.querySelector("gmcnn-inpaint")!.setAttribute("local-confirm-seconds", "100000"));
    await clearEvents();
    await button("local").click();
    const r = await waitEvent("result");
    expect(r.detail).toMatchObject({ where: "browser", fallback: false });
    const all = await events("progress");
    const t0 = all.find((e) => e.detail.phase === "inpainting")?.t ?? 0;
    const t1 = all.find((e) => e.detail.phase === "encoding")?.t ?? 0;
    console.log(
      `in-page run in a fresh worker (session from the cached model): ${r.detail.durationMs} ms in all, ` +
        `${Math.round(t1 - t0)} ms inpainting (estimated ${est.detail.estimateMs} ms)`,
    );
    const steps = (await events("progress")).map((e) => e.detail.phase);
    expect(steps).toContain("inpainting");
    expect(steps).toContain("encoding");
    expect(modelFetches.slice(fetched).filter((u) => u.includes("/widget/models/"))).toEqual([]);
  }, 300_000);

  it("at 390 px on a touch screen: touch instructions, a zoom control, painting while zoomed", async () => {
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true });
    const phone = await ctx.newPage();
    await phone.addInitScript(COLLECT);
    try {
      await phone.goto(`${stack.edgeUrl}/`);
      await phone.locator(`${el} .frame:not([hidden])`).waitFor({ timeout: 60_000 });
      expect(await phone.locator("#howto-touch").isVisible()).toBe(true);
      expect(await phone.locator("#howto-keys").isHidden()).toBe(true);
      expect(await phone.locator(`${el} .status .msg`).innerText()).toMatch(/finger/);
      const canvas = phone.locator(`${el} canvas.paint`);
      const w0 = (await canvas.boundingBox())!.width;
      await phone.locator(`${el} button[data-action="zoom-in"]`).tap();
      await phone.locator(`${el} button[data-action="zoom-in"]`).tap();
      const w1 = (await canvas.boundingBox())!.width;
      expect(w1 / w0).toBeCloseTo(2.25, 1);
      expect(await phone.locator(`${el} .zoom-level`).innerText()).toBe("225%");
      // The page does not overflow: the stage scrolls inside the widget.
      expect(await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
      const stage = await phone.evaluate(() => {
        const s = document.querySelector("gmcnn-inpaint")!.shadowRoot!.querySelector(".stage") as HTMLElement;
        return { scroll: s.scrollWidth, client: s.clientWidth };
      });
      expect(stage.scroll).toBeGreaterThan(stage.client);
      // Tap-paint while zoomed: the mark is in image pixels, inside the picture.
      const box = (await canvas.boundingBox())!;
      const vis = await phone.evaluate(() => {
        const s = document.querySelector("gmcnn-inpaint")!.shadowRoot!.querySelector(".stage") as HTMLElement;
        const r = s.getBoundingClientRect();
        return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
      });
      await phone.touchscreen.tap(vis.x, vis.y);
      const edits = await phone.evaluate(() => document.querySelector("gmcnn-inpaint")!.edits);
      expect(edits).toHaveLength(1);
      const [[x, y]] = (edits[0] as { points: [number, number][] }).points;
      expect(x).toBeCloseTo(((vis.x - box.x) / box.width) * 600, 0);
      expect(y).toBeCloseTo(((vis.y - box.y) / box.height) * 400, 0);
      await screenshot(phone, "ux-phone-zoomed");
      await phone.locator(`${el} button[data-action="zoom-fit"]`).tap();
      expect(Math.round((await canvas.boundingBox())!.width)).toBe(Math.round(w0));
    } finally {
      await ctx.close();
    }
  }, 180_000);
});

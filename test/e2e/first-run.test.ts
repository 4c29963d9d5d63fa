/**
 * What a new user meets, end to end: `npm start` itself (as a child process, on free ports, with
 * its own state folder) and what it prints; the SDK package packed to a tarball, installed into an
 * empty folder outside the repository with the network off, running docs/sdk.md's quick start as
 * written (inpaint, a job with `wait`, usage with the metered key `npm start` prints) and type
 * checking a TypeScript user's shapes; and /docs' Swagger UI in Chromium: Authorize lists the
 * bearer key first, and "Try it out" on POST /v1/inpaint with only the two files chosen answers 200.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createInterface } from "node:readline";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeImage } from "../../gpu-jobs/codecs.ts";
import { freePort, ROOT } from "../../scripts/stack.ts";
import { launchChromium, screenshot } from "../browser/chromium.ts";

let work: string;
let npmStart: ChildProcess;
const output: string[] = [];
/** What the banner says: the URLs and keys a person copies from it. */
const banner: { edge: string; devKey: string; metered: string; admin: string } = { edge: "", devKey: "", metered: "", admin: "" };
let exited: Promise<number | null>;

const READY = "Ctrl-C stops both.";
const field = (label: string) => {
  const line = output.find((l) => l.trimStart().startsWith(label));
  return line?.trim().split(/\s+/)[label.split(" ").length] ?? "";
};

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "gmcnn-first-run-"));
  expect(relative(ROOT, work).startsWith("..")).toBe(true); // outside the repository
  const env = {
    ...process.env,
    GMCNN_EDGE_PORT: String(await freePort()),
    GMCNN_GPU_PORT: String(await freePort()),
    GMCNN_STATE_DIR: join(work, "state"),
    GMCNN_LOG: "0",
  };
  // Its own process group: Ctrl-C (SIGINT to the group) reaches npm, tsx and scripts/stack.ts.
  npmStart = spawn("npm", ["start"], { cwd: ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  exited = new Promise((r) => npmStart.once("exit", (code) => r(code)));
  const ready = new Promise<void>((resolve, reject) => {
    for (const s of [npmStart.stdout!, npmStart.stderr!])
      createInterface({ input: s }).on("line", (l) => {
        output.push(l);
        if (l.includes(READY)) resolve();
      });
    exited.then((code) => reject(new Error(`npm start exited (${code}):\n${output.join("\n")}`)));
  });
  await ready;
  banner.edge = field("edge API");
  banner.devKey = field("API key");
  banner.metered = field("metered");
  banner.admin = field("admin");
}, 300_000);

afterAll(async () => {
  if (npmStart?.pid && npmStart.exitCode === null) {
    process.kill(-npmStart.pid, "SIGINT");
    const t = setTimeout(() => process.kill(-npmStart.pid!, "SIGKILL"), 60_000);
    await exited;
    clearTimeout(t);
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("npm start, as a person reads it", () => {
  it("prints no error on a healthy start, the migrations once, and a dev key, a metered key and the admin token", () => {
    const text = output.join("\n");
    expect(
      output.filter((l) => /\berror\b/i.test(l)),
      text,
    ).toEqual([]);
    expect(text).not.toContain("workers.cloudflare.com");
    expect(output.filter((l) => l.includes("database: applied"))).toHaveLength(1);
    expect(text).not.toContain("┌"); // wrangler's migration tables
    expect(banner.edge).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(banner.devKey).toMatch(/^gmcnn_dev_/);
    expect(banner.metered).toMatch(/\S{16,}/);
    expect(banner.metered).not.toBe(banner.devKey);
    expect(text).toContain(`GMCNN_API_KEY=${banner.metered} node quickstart.mjs`);
  });

  it("the dev key is unmetered (usage: 403), the metered key has a ledger (usage: 200)", async () => {
    const usage = (key: string) => fetch(`${banner.edge}/v1/usage`, { headers: { authorization: `Bearer ${key}` } });
    const dev = await usage(banner.devKey);
    expect(dev.status).toBe(403);
    expect(((await dev.json()) as { detail: string }).detail).toMatch(/unmetered/);
    const metered = await usage(banner.metered);
    expect(metered.status).toBe(200);
    expect(((await metered.json()) as { credits_remaining: number }).credits_remaining).toBeGreaterThan(0);
  });
});

/** Runs a command; its output on failure. */
function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const r = spawnSync(cmd, args, { cwd, env, encoding: "utf8", timeout: 240_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** The first ```js block after the "## Quick start" heading of docs/sdk.md. */
function quickStart(markdown: string): string {
  const from = markdown.indexOf("\n## Quick start");
  const m = /\n```js\n([\s\S]*?)\n```/.exec(markdown.slice(from));
  if (from < 0 || !m) throw new Error("docs/sdk.md has no ```js block under ## Quick start");
  return `${m[1]}\n`;
}

describe("the SDK package, installed from its tarball outside the repository", () => {
  let app: string;

  beforeAll(() => {
    const packed = join(work, "packed");
    mkdirSync(packed);
    // npm pack runs prepack: sdk/build.ts writes sdk/dist (one ES module + .d.ts).
    const out = run("npm", ["pack", "--json", "--pack-destination", packed], join(ROOT, "sdk"));
    const [info] = JSON.parse(out.slice(out.search(/^\[/m))) as {
      filename: string;
      files: { path: string }[];
    }[];
    expect(info.files.map((f) => f.path)).toEqual(expect.arrayContaining(["package.json", "dist/index.js", "dist/index.d.ts"]));
    app = join(work, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "my-app", private: true, type: "module" }));
    // --offline: nothing from the network (the package has no dependencies to fetch).
    run("npm", ["install", "--offline", "--no-audit", "--no-fund", join(packed, info.filename)], app);
    const pkg = JSON.parse(readFileSync(join(app, "node_modules/@gmcnn-edge/sdk/package.json"), "utf8"));
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(existsSync(join(app, "node_modules/zod"))).toBe(false);
  }, 300_000);

  it("docs/sdk.md's quick start, as written: inpaint, a job with wait, usage", async () => {
    writeFileSync(join(app, "quickstart.mjs"), quickStart(readFileSync(join(ROOT, "docs/sdk.md"), "utf8")));
    copyFileSync(join(ROOT, "examples/coffee.png"), join(app, "photo.png"));
    const out = run(process.execPath, ["quickstart.mjs"], app, {
      ...process.env,
      GMCNN_URL: banner.edge,
      GMCNN_API_KEY: banner.metered,
    });
    expect(out).toMatch(/^inpainted\.png: 1 credit\(s\), \d+ left, request \S+$/m);
    expect(out).toMatch(/^job \S+: succeeded$/m);
    expect(out).toMatch(/^credits remaining: \d+$/m);
    for (const f of ["inpainted.png", "job.png"]) {
      const { image } = await decodeImage(new Uint8Array(readFileSync(join(app, f))), f);
      expect([image.width, image.height], f).toEqual([600, 400]);
    }
  });

  it("a TypeScript user's shapes type-check against the package's .d.ts alone (no zod installed)", () => {
    writeFileSync(
      join(app, "check.ts"),
      `import { Gmcnn, GmcnnError, type Job, type Shape, shapes } from "@gmcnn-edge/sdk";
const gmcnn = new Gmcnn({ baseUrl: "http://127.0.0.1:8787", apiKey: "k" });
// Arrays kept in their own variables: the builders keep the literal types; or annotate with Shape[].
const drawn = [shapes.stroke([[1, 2], [30, 40]], 8), shapes.rect(0, 0, 4, 4), shapes.polygon([[0, 0], [9, 0], [0, 9]])];
const annotated: Shape[] = [{ type: "rect", x: 1, y: 1, width: 4, height: 4 }];
export async function run(image: Blob): Promise<Job["status"] | number> {
  await gmcnn.inpaint({ image, mask: drawn, output_format: "webp" });
  await gmcnn.inpaint({ image, mask: { shapes: annotated } });
  try {
    return (await gmcnn.jobs.create({ image, mask: annotated, wait: 5 })).status;
  } catch (e) {
    if (e instanceof GmcnnError) return e.status;
    throw e;
  }
}
`,
    );
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: "es2022",
          module: "nodenext",
          moduleResolution: "nodenext",
          lib: ["es2023", "dom"],
          types: [],
        },
        files: ["check.ts"],
      }),
    );
    run(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"], app);
  });
});

describe("/docs in Chromium", () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it("Authorize lists bearer first; Try it out on POST /v1/inpaint with the two files chosen answers 200", async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));
    await page.goto(`${banner.edge}/docs`);
    await page.locator(".swagger-ui .btn.authorize").first().click();
    const schemes = page.locator(".modal-ux .auth-container");
    await expect.poll(() => schemes.count()).toBeGreaterThanOrEqual(2);
    expect(await schemes.nth(0).locator("h4").textContent()).toMatch(/^bearer/);
    expect(await schemes.nth(1).locator("h4").textContent()).toMatch(/^admin/);
    await schemes.nth(0).locator("input").first().fill(banner.devKey);
    await schemes.nth(0).locator("button.authorize").click();
    await page.locator(".modal-ux button.btn-done").first().click();

    const op = page.locator('.opblock-post:has(.opblock-summary-path[data-path="/v1/inpaint"])');
    await op.locator(".opblock-summary").first().click();
    await op.locator(".try-out__btn").click();
    await op.locator('tr[data-property-name="image"] input[type=file]').setInputFiles(join(ROOT, "examples/coffee.png"));
    await op.locator('tr[data-property-name="mask"] input[type=file]').setInputFiles(join(ROOT, "examples/coffee-mask.png"));
    const [res] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${banner.edge}/v1/inpaint` && r.request().method() === "POST", {
        timeout: 120_000,
      }),
      op.locator(".btn.execute").click(),
    ]);
    await screenshot(page, "docs-try-it-out");
    expect(res.status(), await res.text().catch(() => "")).toBe(200);
    expect(res.headers()["content-type"]).toBe("image/png");
    // What Swagger UI sent, as its curl line shows it: the two files, options with a documented
    // default, blanks (absent to the API), and no `string` or `0` placeholders.
    const curl = (await op.locator(".curl-command").first().textContent()) ?? "";
    expect(curl).toContain("image=@coffee.png");
    expect(curl).toContain("mask=@coffee-mask.png");
    expect(curl).not.toMatch(/=string'/);
    for (const name of ["image_id", "mask_shapes", "model", "output_format", "seed"])
      expect(curl, name).not.toMatch(new RegExp(`'${name}=[^']`));
    expect(errors).toEqual([]);
  });
});

/** The `gmcnn inpaint` command as a user runs it: a real process, real files, the shipped model. */
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { decodeImage, encodeImage } from "../../gpu-jobs/codecs.ts";
import { maskFromImage } from "../../shared/imaging/mask.ts";
import { gradient, rectMaskImage, tempDir } from "./helpers.ts";

const BIN = new URL("../../gpu-jobs/bin/gmcnn.mjs", import.meta.url).pathname;
const dir = tempDir("gmcnn-cli-");
const p = (f: string) => join(dir, f);

function gmcnn(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, GMCNN_THREADS: "2" } });
  return { code: r.status, stderr: r.stderr.trim(), stdout: r.stdout };
}

async function expectKeptOutsideMask(outPath: string, inPath: string, maskPath: string) {
  const out = (await decodeImage(readFileSync(outPath))).image;
  const inp = (await decodeImage(readFileSync(inPath))).image;
  const m = maskFromImage((await decodeImage(readFileSync(maskPath))).image);
  expect([out.width, out.height]).toEqual([inp.width, inp.height]);
  let changed = 0;
  for (let i = 0; i < m.data.length; i++) {
    for (let c = 0; c < 4; c++) {
      if (m.data[i]) changed += out.data[i * 4 + c] !== inp.data[i * 4 + c] ? 1 : 0;
      else if (out.data[i * 4 + c] !== inp.data[i * 4 + c]) throw new Error(`pixel ${i} outside the mask changed`);
    }
  }
  expect(changed).toBeGreaterThan(0);
}

beforeAll(async () => {
  writeFileSync(p("img.png"), await encodeImage(gradient(130, 98), "png"));
  writeFileSync(p("mask.png"), await encodeImage(rectMaskImage(130, 98, 40, 30, 30, 25), "png"));
  writeFileSync(p("empty.png"), await encodeImage(rectMaskImage(130, 98, 0, 0, 0, 0), "png"));
  writeFileSync(p("small-mask.png"), await encodeImage(rectMaskImage(64, 64, 1, 1, 5, 5), "png"));
  writeFileSync(p("img.jpg"), await encodeImage(gradient(130, 98), "jpeg", 92));
  writeFileSync(p("not-an-image.png"), "hello, I am text");
  const png = readFileSync(p("img.png"));
  writeFileSync(p("truncated.png"), png.subarray(0, Math.floor(png.length / 2)));
});

describe("gmcnn inpaint", () => {
  it("inpaints the shipped example (the quick-start job)", async () => {
    const ex = new URL("../../examples/", import.meta.url).pathname;
    const r = gmcnn("inpaint", "--image", `${ex}coffee.png`, "--mask", `${ex}coffee-mask.png`, "--out", p("coffee.png"));
    expect(r.code, r.stderr).toBe(0);
    await expectKeptOutsideMask(p("coffee.png"), `${ex}coffee.png`, `${ex}coffee-mask.png`);
  });

  it("PNG of a size that is not a multiple of 4: same size, unmasked pixels byte-identical", async () => {
    const r = gmcnn("inpaint", "--image", p("img.png"), "--mask", p("mask.png"), "--out", p("out.png"));
    expect(r.code, r.stderr).toBe(0);
    await expectKeptOutsideMask(p("out.png"), p("img.png"), p("mask.png"));
  });

  it("JPEG in, PNG out (by extension): unmasked pixels equal the decoded JPEG", async () => {
    const r = gmcnn("inpaint", "--image", p("img.jpg"), "--mask", p("mask.png"), "--out", p("from-jpeg.png"));
    expect(r.code, r.stderr).toBe(0);
    await expectKeptOutsideMask(p("from-jpeg.png"), p("img.jpg"), p("mask.png"));
  });

  it("JPEG in, JPEG out keeps the size", async () => {
    const r = gmcnn("inpaint", "--image", p("img.jpg"), "--mask", p("mask.png"), "--out", p("out.jpg"), "--jpeg-quality", "80");
    expect(r.code, r.stderr).toBe(0);
    const out = await decodeImage(readFileSync(p("out.jpg")));
    expect([out.format, out.image.width, out.image.height]).toEqual(["jpeg", 130, 98]);
  });

  it("--mask-resize scales a mask of another size instead of refusing it", async () => {
    writeFileSync(p("half-mask.png"), await encodeImage(rectMaskImage(65, 49, 20, 15, 15, 12), "png"));
    const r = gmcnn("inpaint", "--image", p("img.png"), "--mask", p("half-mask.png"), "--out", p("resized.png"), "--mask-resize");
    expect(r.code, r.stderr).toBe(0);
    const out = await decodeImage(readFileSync(p("resized.png")));
    expect([out.image.width, out.image.height]).toEqual([130, 98]);
  });

  it("an empty mask is not an error: the output is the input", () => {
    const r = gmcnn("inpaint", "--image", p("img.png"), "--mask", p("empty.png"), "--out", p("same.png"));
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(p("same.png")).equals(readFileSync(p("img.png")))).toBe(true);
  });

  it.each([
    ["a missing file", ["--image", "nope.png", "--mask", "mask.png"], /no such file/],
    ["a file that is not an image", ["--image", "not-an-image.png", "--mask", "mask.png"], /not a PNG, JPEG or WebP/],
    ["a truncated PNG", ["--image", "truncated.png", "--mask", "mask.png"], /truncated/],
    ["a mask of another size", ["--image", "img.png", "--mask", "small-mask.png"], /mask is 64x64 but the image is 130x98/],
    ["a bad option", ["--image", "img.png", "--mask", "mask.png", "--hd-strategy", "tile"], /--hd-strategy/],
  ])("%s: one clear line on stderr, exit 1, no output file", (_, args, message) => {
    const out = p(`bad-${Math.random().toString(36).slice(2)}.png`);
    const withDir = args.map((a, i) => (i % 2 === 1 && !a.includes("tile") ? p(a) : a));
    const r = gmcnn("inpaint", ...withDir, "--out", out);
    expect(r.code).toBe(1);
    expect(r.stderr.split("\n")).toHaveLength(1);
    expect(r.stderr).toMatch(/^gmcnn: /);
    expect(r.stderr).toMatch(message);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  it("--batch runs every line with a progress bar and reports the failures", () => {
    writeFileSync(
      p("pairs.tsv"),
      ["img.png\tmask.png\tb1.png", "img.jpg\tmask.png\tb2.png", "truncated.png\tmask.png\tb3.png", ""].join("\n"),
    );
    const r = gmcnn("inpaint", "--batch", p("pairs.tsv"));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/3\/3/);
    expect(r.stderr).toMatch(/truncated/);
    expect(existsSync(p("b1.png")) && existsSync(p("b2.png"))).toBe(true);
    expect(existsSync(p("b3.png"))).toBe(false);
  });
});

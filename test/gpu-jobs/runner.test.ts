/**
 * The shipped ONNX model through both runtimes, and PyTorch <-> ONNX Runtime parity on the same
 * weights and random inputs (the PyTorch side runs in Debian's python3 with torch).
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GPU_JOBS, PYTHON } from "../../gpu-jobs/cli/python.ts";
import { resolveModel, verifyFile } from "../../gpu-jobs/runtime/models.ts";
import { inpaintRegion } from "../../gpu-jobs/runtime/runner.ts";
import { createSession, type ModelSession } from "../../gpu-jobs/runtime/session.ts";
import { toModelInput } from "../../shared/imaging/tensor.ts";
import { gradient, rectMask, tempDir } from "./helpers.ts";

const model = resolveModel();
let node: ModelSession;

beforeAll(async () => {
  node = await createSession(model.path, { runtime: "node", threads: 2, precision: "fp32" }); // the fp32 graph: parity below
});
afterAll(() => node?.release());

describe("shipped model", () => {
  it("matches its manifest's SHA-256", () => {
    expect(() => verifyFile(model)).not.toThrow();
  });

  it("runs on CPU here and says so", () => {
    expect(node.provider).toBe("cpu");
  });

  it("fills the hole, keeps every other pixel and the alpha, at a size that is not a multiple of 4", async () => {
    const img = gradient(67, 45);
    img.data[3] = 10; // a translucent pixel outside the hole
    const m = rectMask(67, 45, 20, 10, 16, 12);
    const out = await inpaintRegion(node, img, m);
    expect([out.width, out.height]).toEqual([67, 45]);
    let changed = 0;
    for (let i = 0; i < 67 * 45; i++) {
      for (let c = 0; c < 4; c++) {
        if (m.data[i] && c < 3) changed += out.data[i * 4 + c] !== img.data[i * 4 + c] ? 1 : 0;
        else expect(out.data[i * 4 + c]).toBe(img.data[i * 4 + c]);
      }
    }
    expect(changed).toBeGreaterThan(0);
  });

  it("gives the same output on onnxruntime-node and onnxruntime-web (WASM)", async () => {
    const web = await createSession(model.path, { runtime: "web" });
    expect(web.provider).toBe("wasm");
    const t = toModelInput(gradient(48, 40), rectMask(48, 40, 12, 10, 20, 16));
    const a = await node.run(t.image, t.mask, t.width, t.height);
    const b = await web.run(t.image, t.mask, t.width, t.height);
    await web.release();
    let max = 0;
    for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
    expect(max).toBeLessThan(1e-4);
  });
});

describe("PyTorch <-> ONNX Runtime parity", () => {
  it("max |diff| <= 1e-4 on random inputs, for a fresh export and for the shipped file", async () => {
    const dir = tempDir();
    const ckpt = resolve(GPU_JOBS, "models/gmcnn.onnx"); // weights stored once: read back from the ONNX;
    const onnx = join(dir, "parity.onnx");
    execFileSync(
      PYTHON,
      ["-m", "model.export", "--ckpt", ckpt, "--fp16-weights", "--out", onnx, "--parity", dir, "--seed", "7"],
      {
        cwd: GPU_JOBS,
        stdio: "pipe",
      },
    );
    const cases: { i: number; h: number; w: number }[] = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
    const fresh = await createSession(onnx, { runtime: "node", threads: 2 });
    const read = (i: number, n: string) => new Float32Array(readFileSync(join(dir, `${i}-${n}.bin`)).buffer.slice(0));
    for (const s of [fresh, node]) {
      for (const c of cases) {
        const out = await s.run(read(c.i, "image"), read(c.i, "mask"), c.w, c.h);
        const want = read(c.i, "output");
        let max = 0;
        for (let k = 0; k < want.length; k++) max = Math.max(max, Math.abs(out[k] - want[k]));
        expect(max, `case ${c.w}x${c.h}`).toBeLessThanOrEqual(1e-4);
      }
    }
    await fresh.release();
  });

  it("holds for the half-pixel bilinear upsamplers (upsample: smooth), on node and on web", async () => {
    // Random init (no smooth checkpoint ships yet): the graph's Resize nodes change, the contract not.
    const dir = tempDir();
    const onnx = join(dir, "smooth.onnx");
    execFileSync(
      PYTHON,
      [
        "-m",
        "model.export",
        "--cnum",
        "8",
        "--fill",
        "harmonic",
        "--upsample",
        "smooth",
        "--out",
        onnx,
        "--parity",
        dir,
        "--seed",
        "3",
      ],
      { cwd: GPU_JOBS, stdio: "pipe" },
    );
    const cases: { i: number; h: number; w: number }[] = JSON.parse(readFileSync(join(dir, "cases.json"), "utf8"));
    const read = (i: number, n: string) => new Float32Array(readFileSync(join(dir, `${i}-${n}.bin`)).buffer.slice(0));
    for (const runtime of ["node", "web"] as const) {
      const s = await createSession(onnx, runtime === "node" ? { runtime, threads: 2 } : { runtime });
      for (const c of cases) {
        const out = await s.run(read(c.i, "image"), read(c.i, "mask"), c.w, c.h);
        const want = read(c.i, "output");
        let max = 0;
        for (let k = 0; k < want.length; k++) max = Math.max(max, Math.abs(out[k] - want[k]));
        expect(max, `${runtime} case ${c.w}x${c.h}`).toBeLessThanOrEqual(1e-4);
      }
      await s.release();
    }
  });
});

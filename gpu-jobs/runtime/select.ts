/**
 * Selection by measurement: every candidate way of running the model (path.ts) is timed on this
 * machine at a fixed size, and the fastest serves. A manifest cannot know which kernels win on a
 * CPU it never saw (int8 on VNNI, bf16 on AVX512-BF16 or AMX, ONNX Runtime against PyTorch), so
 * the server measures. The result is cached per CPU model, features, threads and model digest,
 * so only the first start on a machine pays for it.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { CpuInfo } from "./cpu.ts";
import type { PathChoice } from "./path.ts";

/** The size every candidate is timed at (square, a centre hole of half the side). */
export const SELECT_SIZE = 256;
/** Timed runs per candidate after one warm-up; the median counts. */
export const SELECT_RUNS = 3;

export interface Timed {
  precision: string;
  engine: string;
  file: string;
  /** Median ms at SELECT_SIZE; null when the candidate failed to load or run. */
  ms: number | null;
  error?: string;
}

export interface Selection {
  /** Index into the candidates of the fastest. */
  chosen: number;
  size: number;
  table: Timed[];
  measured: string;
}

/** What a measurement depends on; a change in any of it measures again. */
export function selectionKey(input: {
  cpu: Pick<CpuInfo, "model" | "features">;
  threads: number;
  provider: string;
  /** SHA-256 of each candidate's file, in candidate order. */
  candidates: { precision: string; engine: string; sha256: string }[];
}): string {
  return createHash("sha256")
    .update(JSON.stringify({ v: 1, size: SELECT_SIZE, ...input }))
    .digest("hex")
    .slice(0, 32);
}

/** The chosen candidate, its reason saying what was measured. */
export function describeChoice(cands: readonly PathChoice[], sel: Selection, cached: boolean): PathChoice {
  const c = cands[sel.chosen];
  const rows = sel.table.map((t) => `${t.precision}${t.engine === "torch" ? " (torch)" : ""} ${t.ms ?? "failed"}`);
  const how = `fastest at ${sel.size}x${sel.size}: ${rows.join(", ")} ms${cached ? `; measured ${sel.measured}, cached` : ""}`;
  return { ...c, reason: `${c.reason}; ${how}` };
}

/** GMCNN_CACHE_DIR, else $XDG_CACHE_HOME/gmcnn-edge, else ~/.cache/gmcnn-edge. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.GMCNN_CACHE_DIR || join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "gmcnn-edge");
}

export function readSelection(dir: string, key: string, count: number): Selection | undefined {
  try {
    const s = JSON.parse(readFileSync(join(dir, `path-${key}.json`), "utf8")) as Selection;
    // A file from another candidate list (or hand-edited) is measured again, never trusted.
    if (Number.isInteger(s.chosen) && s.chosen >= 0 && s.chosen < count && s.table?.length === count) return s;
  } catch {
    /* absent or unreadable: measure */
  }
  return undefined;
}

export function writeSelection(dir: string, key: string, s: Selection): void {
  try {
    mkdirSync(dir, { recursive: true });
    const tmp = join(dir, `.path-${key}.${process.pid}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(s, null, 2)}\n`);
    renameSync(tmp, join(dir, `path-${key}.json`)); // whole or absent: two servers starting at once
  } catch {
    /* a read-only home: measure again next start */
  }
}

/** The input every candidate is timed on: smooth noise with a centre hole. */
export function selectionInput(s = SELECT_SIZE) {
  const image = new Float32Array(3 * s * s).map((_, i) => Math.sin(i) * 0.9);
  const mask = new Float32Array(s * s);
  for (let y = s / 4; y < (3 * s) / 4; y++) mask.fill(1, y * s + s / 4, y * s + (3 * s) / 4);
  return { image, mask };
}

/** Median ms of `runs` calls after one warm-up. */
export async function timeRuns(
  run: (image: Float32Array, mask: Float32Array, w: number, h: number) => Promise<unknown>,
  size = SELECT_SIZE,
  runs = SELECT_RUNS,
): Promise<number> {
  const { image, mask } = selectionInput(size);
  await run(image, mask, size, size);
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await run(image, mask, size, size);
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return Math.round(t[Math.floor(t.length / 2)]);
}

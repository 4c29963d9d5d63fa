/** The shipped models: manifests validated against the shared schema, files checked by SHA-256. */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ModelManifest } from "../../shared/schemas/manifest.ts";
import { ModelVariant } from "../../shared/schemas/variant.ts";
import type { VariantFile } from "./path.ts";

export const MODELS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "../models");

export interface ModelEntry {
  manifest: ModelManifest;
  path: string;
}

export function loadManifest(manifestPath: string): ModelEntry {
  const manifest = ModelManifest.parse(JSON.parse(readFileSync(manifestPath, "utf8")));
  return { manifest, path: join(dirname(manifestPath), manifest.file) };
}

export function listModels(dir = MODELS_DIR): ModelEntry[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".manifest.json"))
    .sort()
    .map((f) => loadManifest(join(dir, f)));
}

/** `name` or `name@version`; the default is the newest shipped model. */
export function resolveModel(spec?: string, dir = MODELS_DIR): ModelEntry {
  const all = listModels(dir);
  if (all.length === 0) throw new Error(`no model manifests in ${dir}`);
  if (!spec) return all[all.length - 1];
  const [name, version] = spec.split("@");
  const hit = all.filter((m) => m.manifest.name === name && (!version || m.manifest.version === version));
  if (hit.length === 0)
    throw new Error(`unknown model "${spec}" (have: ${all.map((m) => `${m.manifest.name}@${m.manifest.version}`).join(", ")})`);
  return hit[hit.length - 1];
}

export const sha256 = (path: string): string => createHash("sha256").update(readFileSync(path)).digest("hex");

export function verifyFile(e: ModelEntry): void {
  const sum = sha256(e.path);
  if (sum !== e.manifest.sha256) throw new Error(`${e.path}: sha256 ${sum} does not match the manifest`);
}

/**
 * The reduced-precision variants shipped beside an fp32 model file (`<stem>.<precision>.variant.json`,
 * written by model/quantize.py). Only those made from this very file (by SHA-256) and whose own
 * file is intact count: a variant left over from an earlier model is skipped, never run.
 */
export function listVariants(modelPath: string): VariantFile[] {
  const dir = dirname(modelPath);
  const stem = basename(modelPath).replace(/\.onnx$/, "");
  const names = readdirSync(dir).filter((f) => f.startsWith(`${stem}.`) && f.endsWith(".variant.json"));
  if (names.length === 0) return [];
  const baseSum = sha256(modelPath);
  const out: VariantFile[] = [];
  for (const f of names.sort()) {
    const manifest = ModelVariant.parse(JSON.parse(readFileSync(join(dir, f), "utf8")));
    const path = join(dir, manifest.file);
    if (manifest.base.sha256 !== baseSum || !existsSync(path) || sha256(path) !== manifest.sha256) continue;
    out.push({ manifest, path });
  }
  return out;
}

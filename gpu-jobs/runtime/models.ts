/** The shipped models: manifests validated against the shared schema, files checked by SHA-256. */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ModelManifest } from "../../shared/schemas/manifest.ts";

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

export function verifyFile(e: ModelEntry): void {
  const sum = createHash("sha256").update(readFileSync(e.path)).digest("hex");
  if (sum !== e.manifest.sha256) throw new Error(`${e.path}: sha256 ${sum} does not match the manifest`);
}

/**
 * Checks the Worker's plugin configuration in Node before the Worker runs: gmcnn.config.ts with
 * wrangler.toml's [vars] and the given overrides (what `wrangler dev --var` adds), loaded as the
 * edge host would (same registry, same settings, the `local` backend refused). `npm start` runs
 * it first, so a bad setting stops it with the plugin and field named; before a deploy:
 * `npx tsx scripts/check-plugins.ts [NAME=value ...]` (add the secrets a deployment sets).
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import config from "../gmcnn.config.ts";
import { nodeCodecs } from "../gpu-jobs/plugins/host.ts";
import type { Settings } from "../shared/plugins/contract.ts";
import { type PluginInfo, PluginSet } from "../shared/plugins/registry.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** `NAME = "value"` lines of wrangler.toml's [vars] table (the only form the file uses there). */
export function wranglerVars(file = join(ROOT, "wrangler.toml")): Record<string, string> {
  const out: Record<string, string> = {};
  let inVars = false;
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const t = line.trim();
    if (t.startsWith("[")) inVars = t === "[vars]";
    const m = inVars && /^([A-Z0-9_]+)\s*=\s*"((?:[^"\\]|\\.)*)"/.exec(t);
    if (m) out[m[1]] = JSON.parse(`"${m[2]}"`);
  }
  return out;
}

/** Loads the config as the Worker would with these settings; throws the plugin-config problem. */
export async function checkEdgePlugins(vars: Settings = {}): Promise<PluginInfo[]> {
  const settings = { ...wranglerVars(), ...vars };
  const set = await PluginSet.load(config, settings, { name: "edge", fetch, codecs: nodeCodecs() });
  return set.describe();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const vars = Object.fromEntries(process.argv.slice(2).map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]));
  checkEdgePlugins(vars).then(
    (plugins) => {
      for (const p of plugins) console.log(`${p.kind.padEnd(15)} ${p.name}@${p.version}${p.selected ? " (selected)" : ""}`);
    },
    (e: Error) => {
      console.error(`plugin configuration: ${e.message}`);
      process.exit(1);
    },
  );
}

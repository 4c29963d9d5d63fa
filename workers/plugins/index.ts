/**
 * The plugins at the edge: gmcnn.config.ts loaded with the Worker's settings (wrangler vars and
 * secrets) and the Worker's codecs, once per isolate and settings. A bad configuration is a
 * `plugin-config` problem naming the plugin and the field, on every request until it is fixed
 * (`npm start` checks it before starting the Worker: scripts/stack.ts).
 */
import config from "../../gmcnn.config.ts";
import type { HostCodecs, MaskInput, RequestOptions as Options, Settings } from "../../shared/plugins/contract.ts";
import { composeOptions, PluginSet } from "../../shared/plugins/registry.ts";
import { CreateJobJson } from "../../shared/schemas/jobs.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";
import { decodeUpload, EDGE_FORMATS, type EdgeFormat, encodeImage, inspectUpload } from "../codecs.ts";
import { type Bindings, uploadLimits } from "../env.ts";

export { config as PLUGIN_CONFIG };

/** InpaintOptions plus the loaded plugins' options: what the inpaint and job routes accept. */
export const RequestOptions = composeOptions(InpaintOptions, config);

/** The string settings of the bindings (vars and secrets; not D1, R2 or queue bindings). */
export function settingsOf(env: Bindings): Settings {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (typeof v === "string") out[k] = v;
  return out;
}

/** The Worker's codecs under its upload limits. */
export function edgeCodecs(settings: Settings): HostCodecs {
  const limits = uploadLimits(settings as Partial<Bindings>);
  return {
    formats: EDGE_FORMATS,
    inspect: (bytes, what, accept) => inspectUpload(bytes, what, limits, accept as EdgeFormat[]),
    decode: (bytes, header, what) => decodeUpload(bytes, header as Parameters<typeof decodeUpload>[1], what),
    encode: (img, format, o) => encodeImage(img, format as EdgeFormat, o.quality),
  };
}

/** Loads the config with these settings (also what `npm start` runs to check them first). */
export const loadEdgePlugins = (settings: Settings): Promise<PluginSet> =>
  PluginSet.load(config, settings, {
    name: "edge",
    fetch: (input, init) => fetch(input, init),
    codecs: edgeCodecs(settings),
  });

const loaded = new Map<string, Promise<PluginSet>>();
const MAX_SETS = 16;

/** The plugin set for these bindings: one per isolate and distinct settings (the breaker's state lives in it). */
export function edgePlugins(env: Bindings): Promise<PluginSet> {
  const settings = settingsOf(env);
  const key = JSON.stringify(Object.entries(settings).sort(([a], [b]) => (a < b ? -1 : 1)));
  let set = loaded.get(key);
  if (!set) {
    if (loaded.size >= MAX_SETS) loaded.delete(loaded.keys().next().value as string);
    set = loadEdgePlugins(settings);
    loaded.set(key, set);
  }
  return set;
}

/** POST /v1/jobs as JSON: the job's inputs and webhook fields, with RequestOptions for the options. */
// Typed as CreateJobJson: the plugins' options travel with the core ones, untyped.
export const CreateJobJsonWithPlugins = RequestOptions.extend(
  Object.fromEntries(Object.entries(CreateJobJson.shape).filter(([k]) => !Object.hasOwn(InpaintOptions.shape, k))),
) as unknown as typeof CreateJobJson;

/**
 * The mask's header-level checks by the mask source that reads it (no decode): job creation
 * runs them, so a bad mask is a 4xx at once, not a failed job later.
 */
export async function checkMaskInput(
  env: Bindings,
  input: MaskInput,
  image: { width: number; height: number },
  options: Options,
): Promise<void> {
  const source = (await edgePlugins(env)).maskSourceFor(input);
  await source.hooks.check(input, { image, options, codecs: edgeCodecs(settingsOf(env)), limits: uploadLimits(env) });
}

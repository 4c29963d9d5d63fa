/**
 * Loading the plugins a config lists, for one host: every plugin's configuration is validated
 * (a bad one is a `plugin-config` problem naming the plugin and the field), every plugin is set
 * up once, and the selected inference backend (settings GPU_BACKEND, default `http`) with it.
 * Also: the request options the plugins add, composed onto InpaintOptions for every route.
 */
import { z } from "zod";
import type { GpuBackend } from "../gpu-backend.ts";
import type { WorkRegion } from "../imaging/plan.ts";
import type { Mask } from "../imaging/types.ts";
import { Problem } from "../problems.ts";
import type { InpaintOptions } from "../schemas/options.ts";
import {
  type AnyPlugin,
  type EncoderHooks,
  type HooksByKind,
  type Host,
  type MaskContext,
  type MaskInput,
  type MaskSourceHooks,
  type MaskWork,
  maxMaskWork,
  PLUGIN_KINDS,
  type PluginKind,
  type PostProcessorHooks,
  type RequestOptions,
  type Settings,
  type WebhookSourceHooks,
} from "./contract.ts";
import { boundedPostProcessor, checkRequestPostWork } from "./post-work.ts";

export interface PluginConfig {
  /** In order: the first mask source that detects an input reads it; post-processors run in this order. */
  readonly plugins: readonly AnyPlugin[];
}

const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** Checks a config's static shape (names, kinds, duplicates, encoder formats) and returns it. */
export function defineConfig(config: PluginConfig): PluginConfig {
  const seen = new Set<string>();
  for (const p of config.plugins) {
    const where = `plugin ${p.name || "(unnamed)"}`;
    if (!NAME.test(p.name)) throw configError(p, "name", "lowercase letters, digits and dashes");
    if (!(PLUGIN_KINDS as readonly string[]).includes(p.kind)) throw configError(p, "kind", `one of ${PLUGIN_KINDS.join(", ")}`);
    if (seen.has(`${p.kind}/${p.name}`)) throw new Problem("plugin-config", `${where}: listed twice`, { plugin: p.name });
    seen.add(`${p.kind}/${p.name}`);
    if (p.kind === "encoder" && (!p.format || !p.mime)) throw configError(p, "format", "an encoder names its format and mime");
  }
  return config;
}

function configError(p: { name: string; kind: string }, field: string, message: string): Problem {
  return new Problem("plugin-config", `plugin ${p.name} (${p.kind}): ${field}: ${message}`, {
    plugin: p.name,
    kind: p.kind,
    field,
  });
}

/** A plugin's config from the settings; a `plugin-config` problem names the plugin and the field. */
export function pluginConfig(p: AnyPlugin, settings: Settings): Record<string, unknown> {
  if (!p.config) return {};
  const r = p.config.safeParse(settings);
  if (r.success) return r.data;
  const i = r.error.issues[0];
  throw configError(p, i.path.join(".") || "(config)", i.message);
}

/**
 * InpaintOptions plus every plugin's public options (and `output_format` limited to the loaded
 * encoders' formats). An option name claimed twice is a config error.
 */
export function composeOptions(core: z.ZodObject<z.ZodRawShape>, config: PluginConfig): z.ZodObject<z.ZodRawShape> {
  const shape: { [k: string]: z.ZodRawShape[string] } = {};
  const owner = new Map<string, string>(Object.keys(core.shape).map((k) => [k, "core"]));
  for (const p of config.plugins) {
    for (const [k, v] of Object.entries(p.options ?? {})) {
      const had = owner.get(k);
      if (had) throw configError(p, `options.${k}`, `already defined by ${had}`);
      owner.set(k, p.name);
      shape[k] = v;
    }
  }
  const formats = config.plugins.filter((p) => p.kind === "encoder").map((p) => p.format as string);
  if (formats.length > 0)
    shape.output_format = z
      .enum(formats as [string, ...string[]])
      .optional()
      .describe(`default: the input's format; encoders loaded: ${formats.join(", ")}`);
  return core.extend(shape).strict();
}

export interface Loaded<K extends PluginKind> {
  plugin: AnyPlugin & { kind: K };
  hooks: HooksByKind[K];
}

/** What GET /v1/plugins shows of a plugin. */
export interface PluginInfo {
  name: string;
  version: string;
  kind: PluginKind;
  description: string;
  /** JSON Schema of each public option it adds to the inpaint routes. */
  options: Record<string, unknown>;
  /** Inference backends: the one requests use. */
  selected?: boolean;
  format?: string;
}

export class PluginSet {
  private constructor(
    readonly config: PluginConfig,
    readonly maskSources: Loaded<"mask-source">[],
    readonly postProcessors: Loaded<"post-processor">[],
    readonly encoders: Map<string, Loaded<"encoder">>,
    readonly webhookSources: Map<string, Loaded<"webhook-source">>,
    readonly backendName: string,
    readonly backend: GpuBackend,
  ) {}

  /**
   * Validates and sets up every plugin except inference backends, then the selected backend
   * (which may build others through `host.backend`, e.g. a fallback chain).
   */
  static async load(config: PluginConfig, settings: Settings, host: Omit<Host, "backend">): Promise<PluginSet> {
    const fullHost: Host = { ...host, backend: (name, over) => buildBackend(config, name, { ...settings, ...over }, fullHost) };
    const setUp = async <K extends PluginKind>(kind: K): Promise<Loaded<K>[]> => {
      const out: Loaded<K>[] = [];
      for (const p of config.plugins) {
        if (p.kind !== kind) continue;
        const hooks = (await setUpPlugin(p, settings, fullHost)) as HooksByKind[K];
        out.push({ plugin: p as AnyPlugin & { kind: K }, hooks });
      }
      return out;
    };
    const masks = (await setUp("mask-source")).map((m) => ({ ...m, hooks: boundedMaskSource(m.plugin.name, m.hooks) }));
    const post = (await setUp("post-processor")).map((p) => ({ ...p, hooks: boundedPostProcessor(p.plugin.name, p.hooks) }));
    const encoders = new Map((await setUp("encoder")).map((e) => [e.plugin.format as string, e]));
    const hooks = new Map((await setUp("webhook-source")).map((w) => [w.plugin.name, w]));
    const name = settings.GPU_BACKEND?.trim() || "http";
    const backend = await buildBackend(config, name, settings, fullHost);
    return new PluginSet(config, masks, post, encoders, hooks, name, backend);
  }

  /** The mask source that reads `input`, or 415 naming what the loaded sources accept. */
  maskSourceFor(input: Parameters<MaskSourceHooks["detect"]>[0]): Loaded<"mask-source"> {
    const hit = this.maskSources.find((s) => s.hooks.detect(input));
    if (hit) return hit;
    throw new Problem("unsupported-media-type", `mask must be ${this.maskSources.map((s) => s.hooks.accepts).join(", or ")}`, {
      field: "mask",
      accepted: this.maskSources.map((s) => s.plugin.name),
    });
  }

  /** The post-processors a request's options turn on, in config order. */
  postProcessorsFor(o: Parameters<PostProcessorHooks["enabled"]>[0]): Loaded<"post-processor">[] {
    return this.postProcessors.filter((p) => p.hooks.enabled(o));
  }

  /**
   * Refuses (422 mask-too-large) a request whose post-processors would together spend more than
   * MAX_POST_WORK on its regions: callable once the regions are planned, before the model runs.
   */
  checkPostWork(regions: readonly WorkRegion[], mask: Mask, o: RequestOptions): void {
    checkRequestPostWork(this.postProcessorsFor(o), regions, mask, o);
  }

  encoder(format: string): { hooks: EncoderHooks; mime: string } {
    const e = this.encoders.get(format);
    if (!e)
      throw new Problem(
        "invalid-options",
        `output_format ${format} has no encoder (have: ${[...this.encoders.keys()].join(", ")})`,
      );
    return { hooks: e.hooks, mime: e.plugin.mime as string };
  }

  webhookSource(name: string): WebhookSourceHooks {
    const w = this.webhookSources.get(name);
    if (!w) throw new Problem("internal", `the integration's webhook source ${name} is not loaded`);
    return w.hooks;
  }

  describe(): PluginInfo[] {
    return this.config.plugins.map((p) => ({
      name: p.name,
      version: p.version,
      kind: p.kind,
      description: p.description,
      options: Object.fromEntries(
        Object.entries(p.options ?? {}).map(([k, v]) => [k, z.toJSONSchema(v as z.ZodType, { io: "input" })]),
      ),
      ...(p.kind === "inference" ? { selected: p.name === this.backendName } : {}),
      ...(p.format ? { format: p.format } : {}),
    }));
  }
}

/**
 * 422 mask-too-complex when `work` (what a mask source counted for an input) is over the host's
 * bound, naming the source and what it counted.
 */
export function checkMaskWork(source: string, w: MaskWork, ctx: Pick<MaskContext, "limits">): MaskWork {
  const max = maxMaskWork(ctx.limits);
  if (!(Number.isFinite(w.work) && w.work >= 0))
    throw new Problem("internal", `mask source ${source} counted no work for its input`, { source });
  if (w.work > max) {
    const counted = Object.entries(w.counts)
      .map(([k, v]) => `${v} ${k}`)
      .join(", ");
    throw new Problem(
      "mask-too-complex",
      `mask would take ${w.work} units of work to read (${counted || source}); the limit is ${max}: ` +
        "send fewer, smaller or less overlapping objects, or one mask PNG",
      { field: "mask", source, work: w.work, max_work: max, ...w.counts },
    );
  }
  return w;
}

/**
 * A mask source's hooks with the work bound in front of `check` and `load`: its `work` estimate
 * is taken and refused over the bound before either runs. Every PluginSet wraps its mask sources
 * with it, so a mask source cannot forget the bound; one without `work` is a config error.
 */
export function boundedMaskSource(name: string, hooks: MaskSourceHooks): MaskSourceHooks {
  if (typeof hooks?.work !== "function")
    throw new Problem("plugin-config", `plugin ${name} (mask-source): work: a mask source must estimate its work`, {
      plugin: name,
      kind: "mask-source",
      field: "work",
    });
  const bound = (input: MaskInput, ctx: MaskContext) => checkMaskWork(name, hooks.work(input, ctx), ctx);
  return {
    accepts: hooks.accepts,
    detect: (input) => hooks.detect(input),
    work: bound,
    check(input, ctx) {
      bound(input, ctx);
      return hooks.check(input, ctx);
    },
    async load(input, ctx) {
      bound(input, ctx);
      return hooks.load(input, ctx);
    },
  };
}

/** An inference backend by name, its config validated (a chain builds its members the same way). */
async function buildBackend(config: PluginConfig, name: string, settings: Settings, host: Host): Promise<GpuBackend> {
  const p = config.plugins.find((x) => x.kind === "inference" && x.name === name);
  if (!p) {
    const have = config.plugins.filter((x) => x.kind === "inference").map((x) => x.name);
    throw new Problem("plugin-config", `GPU_BACKEND: no inference plugin named "${name}" (have: ${have.join(", ")})`, {
      field: "GPU_BACKEND",
    });
  }
  return (await setUpPlugin(p, settings, host)) as GpuBackend;
}

/** Config, then setup; a setup that fails is a config error of that plugin. */
async function setUpPlugin(p: AnyPlugin, settings: Settings, host: Host): Promise<unknown> {
  const config = pluginConfig(p, settings);
  try {
    return await p.setup(config as never, host);
  } catch (e) {
    if (e instanceof Problem) throw e;
    throw configError(p, "setup", (e as Error)?.message ?? String(e));
  }
}

/** The options type a plugin's hooks get, for plugins that declare options. */
export type WithOptions<O extends z.ZodRawShape> = InpaintOptions & z.output<z.ZodObject<O>>;

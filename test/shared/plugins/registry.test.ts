/** Loading a config: validation at startup, with the plugin and the field named; composed options. */

import { describe, expect, it } from "vitest";
import { z } from "zod";
import { definePlugin } from "../../../shared/plugins/contract.ts";
import { composeOptions, defineConfig, PluginSet } from "../../../shared/plugins/registry.ts";
import { InpaintOptions } from "../../../shared/schemas/options.ts";
import { config, host } from "./setup.ts";

const good = { GPU_URL: "http://127.0.0.1:9" };

describe("a config, loaded", () => {
  it("sets up every plugin and the selected backend", async () => {
    const set = await PluginSet.load(config, good, host);
    expect(set.backend.name).toBe("http");
    const info = set.describe();
    expect(info.map((p) => p.name)).toEqual(config.plugins.map((p) => p.name));
    expect(info.find((p) => p.name === "http")?.selected).toBe(true);
    expect(info.find((p) => p.name === "fallback")?.selected).toBe(false);
    expect(Object.keys(info.find((p) => p.name === "grain")?.options ?? {})).toEqual(["grain"]);
    expect(info.find((p) => p.name === "webp")?.format).toBe("webp");
  });

  it.each([
    [{ GPU_URL: "ftp://x" }, /plugin http \(inference\): GPU_URL: an http\(s\) URL/],
    [{}, /plugin http \(inference\): GPU_URL: missing/],
    [{ ...good, GPU_TIMEOUT_MS: "soon" }, /plugin http \(inference\): GPU_TIMEOUT_MS/],
    [{ ...good, SEAM_BLEND_MAX_ITERATIONS: "3" }, /plugin seam-blend \(post-processor\): SEAM_BLEND_MAX_ITERATIONS/],
    [{ ...good, GPU_BACKEND: "carrier-pigeon" }, /GPU_BACKEND: no inference plugin named "carrier-pigeon"/],
    [{ ...good, GPU_BACKEND: "fallback" }, /plugin fallback \(inference\): GPU_SECONDARY_URL: missing/],
    [
      { ...good, GPU_BACKEND: "fallback", GPU_SECONDARY_URL: "x", GPU_BREAKER_FAILURES: "0" },
      /plugin fallback \(inference\): GPU_SECONDARY_URL/,
    ],
  ])("a bad setting is a plugin-config problem naming the plugin and the field (%j)", async (settings, message) => {
    await expect(PluginSet.load(config, settings, host)).rejects.toMatchObject({
      kind: "plugin-config",
      status: 500,
      message: expect.stringMatching(message),
    });
  });

  it("a plugin whose setup fails is reported as that plugin's config error", async () => {
    const broken = definePlugin({
      name: "needs-gpu",
      version: "0.0.1",
      kind: "post-processor",
      description: "",
      setup: () => {
        throw new Error("no CUDA device");
      },
    });
    await expect(PluginSet.load(defineConfig({ plugins: [...config.plugins, broken] }), good, host)).rejects.toMatchObject({
      kind: "plugin-config",
      message: "plugin needs-gpu (post-processor): setup: no CUDA device",
    });
  });
});

describe("defineConfig and composeOptions", () => {
  const noop = (name: string, options?: z.ZodRawShape) =>
    definePlugin({
      name,
      version: "1.0.0",
      kind: "post-processor",
      description: "",
      options,
      setup: () => ({ enabled: () => false, process: () => {} }),
    });

  it("refuse a plugin listed twice, a bad name and an option two plugins claim", () => {
    expect(() => defineConfig({ plugins: [noop("a"), noop("a")] })).toThrow(/plugin a: listed twice/);
    expect(() => defineConfig({ plugins: [noop("Bad Name")] })).toThrow(/name: lowercase/);
    expect(() => composeOptions(InpaintOptions, { plugins: [noop("a", { dilate: z.number() })] })).toThrow(
      /options.dilate: already defined by core/,
    );
    expect(() =>
      composeOptions(InpaintOptions, { plugins: [noop("a", { x: z.number() }), noop("b", { x: z.number() })] }),
    ).toThrow(/plugin b \(post-processor\): options.x: already defined by a/);
  });

  it("add every plugin's options, strict, with output_format from the loaded encoders", () => {
    const all = composeOptions(InpaintOptions, config);
    const parsed = all.parse({ seam_blend: true, grain: 0.5, feather: 3 });
    expect(parsed).toMatchObject({ seam_blend: true, grain: 0.5, feather: 3, hd_strategy: "crop" });
    expect(all.safeParse({ bogus: 1 }).success).toBe(false);
    expect(all.safeParse({ output_format: "webp" }).success).toBe(true);
    expect(all.safeParse({ output_format: "gif" }).success).toBe(false);
  });
});

/**
 * The plugins in Node (the CLI and the GPU function server): gmcnn.config.ts loaded with the
 * environment (and flags) as settings, the Node codecs, and in-process ONNX Runtime for the
 * `local` inference backend, which is the default here (GPU_BACKEND=http sends regions to a GPU
 * function instead). A bad configuration is a `plugin-config` problem naming the plugin and field.
 */
import { basename } from "node:path";
import config from "../../gmcnn.config.ts";
import { looksComplete, readImageHeader } from "../../shared/imaging/sniff.ts";
import type { HostCodecs, OnnxHost, Settings } from "../../shared/plugins/contract.ts";
import { composeOptions, PluginSet } from "../../shared/plugins/registry.ts";
import { Problem } from "../../shared/problems.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";
import { decodeImage, encodeImage } from "../codecs.ts";
import { resolveModel } from "../runtime/models.ts";
import { inpaintRegion } from "../runtime/runner.ts";
import { createSession } from "../runtime/session.ts";

/** InpaintOptions plus the loaded plugins' options (what `gmcnn inpaint` flags may set). */
export const RequestOptions = composeOptions(InpaintOptions, config);

/** Node's codecs (the same @jsquash WASM as the edge); files may be up to `maxPixels`. */
export function nodeCodecs(maxPixels = 100e6): HostCodecs {
  return {
    formats: ["png", "jpeg", "webp"],
    inspect(bytes, what, accept) {
      const h = readImageHeader(bytes);
      if (!h || !accept.includes(h.format))
        throw new Problem("unsupported-media-type", `${what} must be ${accept.map((f) => f.toUpperCase()).join(" or ")}`);
      if (h.width * h.height > maxPixels)
        throw new Problem("image-too-large", `${what} is ${h.width}x${h.height}; the limit is ${maxPixels / 1e6} megapixels`);
      if (!looksComplete(bytes, h.format)) throw new Problem("undecodable-image", `${what} is truncated (the file ends early)`);
      return h;
    },
    decode: async (bytes, _header, what) => (await decodeImage(bytes, what, maxPixels)).image,
    encode: (img, format, o) => encodeImage(img, format as "png" | "jpeg" | "webp", o.quality),
  };
}

/** In-process ONNX Runtime: a shipped model by name[@version], or a .onnx file. */
export const nodeOnnx: OnnxHost = {
  async open({ model, threads, runtime }) {
    const file = model?.endsWith(".onnx");
    const entry = file ? undefined : resolveModel(model);
    const path = file ? (model as string) : (entry?.path as string);
    const session = await createSession(path, { runtime: runtime ?? "node", threads });
    return {
      name: entry?.manifest.name ?? basename(path, ".onnx"),
      version: entry?.manifest.version ?? "file",
      provider: String(session.provider),
      run: (img, mask) => inpaintRegion(session, img, mask),
      release: () => session.release(),
    };
  },
};

/** The config's plugins for a Node host; GPU_BACKEND defaults to `local` here. */
export function loadNodePlugins(settings: Settings = process.env, o: { maxPixels?: number } = {}): Promise<PluginSet> {
  return PluginSet.load(
    config,
    { ...settings, GPU_BACKEND: settings.GPU_BACKEND || "local" },
    { name: "node", fetch: (input, init) => fetch(input, init), codecs: nodeCodecs(o.maxPixels), onnx: nodeOnnx },
  );
}

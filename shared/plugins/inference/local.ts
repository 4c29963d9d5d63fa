/**
 * Inference backend `local`: ONNX Runtime in-process (Node hosts: the CLI, a Node edge, tests).
 * The model opens on the first call, so a bad input never pays for loading it. At the edge there
 * is no ONNX Runtime (a Worker has 128 MB and one thread): selecting it there is a config error.
 */
import { z } from "zod";
import type { GpuBackend, InferResult } from "../../gpu-backend.ts";
import { rgbaToRgb, rgbToRgba } from "../../imaging/pixels.ts";
import { Problem } from "../../problems.ts";
import { PROTOCOL_VERSION } from "../../protocol.ts";
import { definePlugin, type OnnxModel } from "../contract.ts";
import { intSetting, textSetting } from "../settings.ts";

export const LocalConfig = z.object({
  /** name, name@version or a path to a .onnx file; default: the newest shipped model. */
  GMCNN_MODEL: textSetting(),
  GMCNN_THREADS: intSetting(0, 256, 0),
  /** node: onnxruntime-node (CUDA when installed, else CPU); web: onnxruntime-web (WASM). */
  GMCNN_RUNTIME: z.preprocess((v) => (v === "" ? undefined : v), z.enum(["node", "web"]).default("node")),
});

export const localBackend = () =>
  definePlugin({
    name: "local",
    version: "1.0.0",
    kind: "inference",
    description: "ONNX Runtime in-process (Node hosts: the CLI, tests); not available in a Worker",
    config: LocalConfig,
    setup(c, host): GpuBackend {
      const onnx = host.onnx;
      if (!onnx)
        throw new Problem(
          "plugin-config",
          `plugin local (inference): GPU_BACKEND: the ${host.name} host has no in-process ONNX Runtime; use http or fallback`,
          { plugin: "local", field: "GPU_BACKEND" },
        );
      let opened: Promise<OnnxModel> | undefined;
      const model = () => {
        opened ??= onnx
          .open({ model: c.GMCNN_MODEL, threads: c.GMCNN_THREADS || undefined, runtime: c.GMCNN_RUNTIME })
          .catch((e) => {
            opened = undefined;
            throw new Problem(
              "model-not-found",
              `cannot load model ${c.GMCNN_MODEL ?? "(newest shipped)"}: ${(e as Error).message}`,
            );
          });
        return opened;
      };
      return {
        name: "local",
        async servedModel() {
          const m = await model();
          return `${m.name}@${m.version}`;
        },
        async infer(req): Promise<InferResult> {
          const m = await model();
          const want = req.header.model;
          if (want && !(want === m.name || want === `${m.name}@${m.version}`))
            throw new Problem("model-not-found", `this backend serves ${m.name}@${m.version}, not ${want}`);
          const { width, height } = req.header;
          const t0 = Date.now();
          const out = await m.run(rgbToRgba(req.rgb, width, height), { width, height, data: req.mask });
          const ms = Date.now() - t0;
          return {
            header: {
              v: PROTOCOL_VERSION,
              width,
              height,
              model: { name: m.name, version: m.version },
              provider: m.provider,
              timing: { queue_ms: 0, inference_ms: ms, total_ms: ms },
            },
            rgb: rgbaToRgb(out),
          };
        },
      };
    },
  });

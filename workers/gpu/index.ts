/**
 * The inference backend at the edge: the one the plugin config selects (GPU_BACKEND, default
 * `http`; see gmcnn.config.ts and shared/plugins/inference/). Resolved lazily, so callers that
 * only need the backend's identity do not wait for the plugins to load.
 */
import type { GpuBackend } from "../../shared/gpu-backend.ts";
import type { Bindings } from "../env.ts";
import { edgePlugins } from "../plugins/index.ts";

export const backendFor = (env: Bindings): GpuBackend => ({
  name: env.GPU_BACKEND?.trim() || "http",
  infer: async (req, o) => (await edgePlugins(env)).backend.infer(req, o),
  servedModel: async (o) => (await edgePlugins(env)).backend.servedModel?.(o),
});

/**
 * The GPU backends this Worker ships, by the name GPU_BACKEND (wrangler.toml) selects. A new
 * backend is one factory implementing shared/gpu-backend.ts, registered here.
 */
import { type GpuBackend, type GpuBackendFactory, selectBackend } from "../../shared/gpu-backend.ts";
import type { Bindings } from "../env.ts";
import { createHttpBackend } from "./http.ts";

export const GPU_BACKENDS: Readonly<Record<string, GpuBackendFactory>> = { http: createHttpBackend };

export const backendFor = (env: Bindings): GpuBackend =>
  selectBackend(GPU_BACKENDS, env.GPU_BACKEND, env as unknown as Record<string, unknown>, {
    fetch: (input, init) => fetch(input, init),
  });

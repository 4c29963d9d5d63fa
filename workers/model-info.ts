/**
 * The served model's `name@version`, which is part of every cache key: asked of the GPU backend
 * and trusted for MODEL_INFO_TTL_S (per isolate and backend URL), so a cache hit costs no GPU
 * round trip. A result is always stored under the model that actually produced it (see
 * `noteServedModel`), so a new version never hits entries of the old one once it is seen.
 */
import type { GpuBackend } from "../shared/gpu-backend.ts";
import type { Bindings } from "./env.ts";
import { modelInfoTtlSeconds } from "./env.ts";

const memo = new Map<string, { model: string; until: number }>();
const memoKey = (env: Bindings) => `${env.GPU_BACKEND ?? "http"} ${env.GPU_URL}`;

export async function servedModel(env: Bindings, backend: GpuBackend): Promise<string> {
  const k = memoKey(env);
  const hit = memo.get(k);
  if (hit && hit.until > Date.now()) return hit.model;
  const model = (await backend.servedModel?.()) ?? "unknown";
  memo.set(k, { model, until: Date.now() + modelInfoTtlSeconds(env) * 1000 });
  return model;
}

/** What a GPU call reported: replaces the memo when the function now serves something else. */
export function noteServedModel(env: Bindings, model: string): void {
  const k = memoKey(env);
  const hit = memo.get(k);
  if (!hit || hit.model !== model) memo.set(k, { model, until: Date.now() + modelInfoTtlSeconds(env) * 1000 });
}

/**
 * The served model's `name@version`, which is part of every cache key: asked of the GPU backend
 * and trusted for MODEL_INFO_TTL_S (per isolate and backend URL), so a cache hit costs no GPU
 * round trip. A result is always stored under the model that actually produced it (see
 * `noteServedModel`), so a new version never hits entries of the old one once it is seen.
 *
 * Serving a stored result must not need the GPU function. What the edge last saw is also kept in
 * D1 (`served_models`, per backend name); when the memo has expired and the edge knows a model
 * (the expired memo, or that record), the backend gets MODEL_INFO_WAIT_MS to answer and the known
 * model is used if it does not (stopped, paused, loading). Only an edge that has never seen a
 * model waits for the backend's own timeout.
 */
import type { GpuBackend } from "../shared/gpu-backend.ts";
import type { Bindings } from "./env.ts";
import { modelInfoTtlSeconds } from "./env.ts";

const memo = new Map<string, { model: string; until: number }>();
const memoKey = (env: Bindings) => `${env.GPU_BACKEND ?? "http"} ${env.GPU_URL}`;
const backendName = (env: Bindings) => env.GPU_BACKEND?.trim() || "http";

/** How long a backend that should be up may take to name its model when the edge knows one already. */
export const MODEL_INFO_WAIT_MS = 1500;
/** After a fallback, ask the backend again this soon. */
const FALLBACK_MEMO_MS = 5000;
/** The D1 record is rewritten at most this often per isolate while the model stays the same. */
const RECORD_EVERY_MS = 10 * 60_000;
const recorded = new Map<string, { model: string; at: number }>();

/** The model the edge last saw this backend serve (D1), or undefined. */
async function lastRecorded(env: Bindings): Promise<string | undefined> {
  const row = await env.DB.prepare("SELECT model FROM served_models WHERE backend = ?")
    .bind(backendName(env))
    .first<{ model: string }>()
    .catch(() => null);
  return row?.model;
}

/** Records `model` for the backend in D1 (when it changed, or now and then). */
export async function recordServedModel(env: Bindings, model: string): Promise<void> {
  if (!model || model === "unknown") return;
  const name = backendName(env);
  const last = recorded.get(name);
  const now = Date.now();
  if (last && last.model === model && now - last.at < RECORD_EVERY_MS) return;
  recorded.set(name, { model, at: now });
  await env.DB.prepare(
    `INSERT INTO served_models (backend, model, seen_at) VALUES (?1, ?2, ?3)
     ON CONFLICT (backend) DO UPDATE SET model = excluded.model, seen_at = excluded.seen_at`,
  )
    .bind(name, model, now)
    .run()
    .catch(() => recorded.delete(name));
}

export async function servedModel(env: Bindings, backend: GpuBackend): Promise<string> {
  const k = memoKey(env);
  const hit = memo.get(k);
  if (hit && hit.until > Date.now()) return hit.model;
  const known = hit?.model ?? (await lastRecorded(env));
  try {
    const signal = known ? AbortSignal.timeout(MODEL_INFO_WAIT_MS) : undefined;
    const model = (await backend.servedModel?.(signal ? { signal } : undefined)) ?? "unknown";
    memo.set(k, { model, until: Date.now() + modelInfoTtlSeconds(env) * 1000 });
    await recordServedModel(env, model);
    return model;
  } catch (e) {
    if (!known) throw e;
    // Stopped, paused or still loading: key by what the edge knows, and ask again soon.
    memo.set(k, { model: known, until: Date.now() + FALLBACK_MEMO_MS });
    return known;
  }
}

/** What a GPU call reported: replaces the memo when the function now serves something else, and is recorded. */
export async function noteServedModel(env: Bindings, model: string): Promise<void> {
  const k = memoKey(env);
  const hit = memo.get(k);
  if (!hit || hit.model !== model) memo.set(k, { model, until: Date.now() + modelInfoTtlSeconds(env) * 1000 });
  await recordServedModel(env, model);
}

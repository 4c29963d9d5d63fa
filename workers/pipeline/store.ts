/**
 * Stage `store`: the result into the cache under the model that actually produced it (re-keyed
 * when the function serves another version than we believed), then the response.
 */
import { type CacheStatus, cacheKey, etagOf, storeResult } from "../cache.ts";
import { noteServedModel } from "../model-info.ts";
import { type Run, reply } from "./run.ts";

export async function store(run: Run): Promise<Response> {
  const { env, t, options: o, model, regions } = run;
  const bytes = run.bytes as Uint8Array;
  if (model && !o.model) await noteServedModel(env, model);
  if (model && !o.model && model !== run.keyModel) run.key = await cacheKey({ ...run.keyParts, model });
  const contentType = run.mime;
  if (!run.bypass && regions.length > 0) {
    await storeResult(env, run.key, bytes, { contentType, model: model || run.keyModel, regions: String(regions.length) });
    run.stored = true;
  }
  t.mark("store");
  t.add("edge", Date.now() - t.start - t.get("gpu"));
  const headers: Record<string, string> = { "Content-Type": contentType };
  if (model) headers["X-Model"] = model;
  if (run.provider) headers["X-Gpu-Provider"] = run.provider;
  if (run.servedBy) headers["X-Gpu-Backend"] = run.servedBy;
  return reply(bytes, 200, {
    ...headers,
    ETag: etagOf(run.key),
    "X-Cache": (run.bypass || regions.length === 0 ? "BYPASS" : "MISS") satisfies CacheStatus,
    "X-Inpaint-Regions": String(regions.length),
    "Server-Timing": t.header(),
  });
}

/**
 * Stage `cache`: the cache key (image hash, mask hash, served model, options, output format),
 * then a 304 for a matching If-None-Match, a stored result, or a wait on an identical request in
 * flight (workers/coalesce.ts). `Cache-Control: no-store` / `no-cache` skips all three.
 */
import { type CacheStatus, cacheKey, etagOf, lookupResult, notModified } from "../cache.ts";
import type { JoinResult } from "../coalesce.ts";
import { backendFor } from "../gpu/index.ts";
import { servedModel } from "../model-info.ts";
import { type Run, reply } from "./run.ts";

/** A follower waits at most one GPU call (plus slack) for its leader before computing itself. */
const COALESCE_SLACK_MS = 5_000;

async function hitResponse(run: Run, extra: Record<string, string>): Promise<Response | undefined> {
  const hit = await lookupResult(run.env, run.key);
  if (!hit) return undefined;
  return reply(hit.body, 200, {
    "Content-Type": hit.contentType,
    ETag: etagOf(run.key),
    ...extra,
    "X-Model": hit.model,
    "X-Inpaint-Regions": hit.regions,
    "Server-Timing": run.t.header(),
  });
}

export async function cache(run: Run): Promise<Response | undefined> {
  const { env, options: o } = run;
  run.backend = backendFor(env);
  run.keyModel = o.model?.includes("@") ? o.model : await servedModel(env, run.backend);
  // The input's format is fixed by the image hash, so "as the input" is a format of its own here.
  run.keyParts = {
    account: run.ctx.owner,
    image: run.image.sha256,
    mask: run.mask.sha256,
    model: run.keyModel,
    options: o,
    format: o.output_format ?? "input",
  };
  run.key = await cacheKey(run.keyParts);
  run.bypass = /no-store|no-cache/i.test(run.ctx.cacheControl ?? "");
  if (run.bypass) return undefined;

  if (await notModified(env, run.ctx.ifNoneMatch, run.key))
    return reply(null, 304, { ETag: etagOf(run.key), "X-Cache": "HIT" satisfies CacheStatus });
  const hit = await hitResponse(run, { "X-Cache": "HIT" satisfies CacheStatus });
  if (hit) return hit;

  // A miss: identical requests in flight wait for the first one.
  const gate = env.COALESCER.get(env.COALESCER.idFromName(run.key));
  const role: JoinResult = await gate.join(Number(env.GPU_TIMEOUT_MS || 120_000) + COALESCE_SLACK_MS);
  if (role === "lead") run.cleanups.push(() => gate.finish(run.stored));
  if (role === "done") return hitResponse(run, { "X-Cache": "MISS" satisfies CacheStatus, "X-Coalesced": "1" });
  return undefined;
}

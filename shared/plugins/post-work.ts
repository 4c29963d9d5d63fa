/**
 * The post-processors' work bound, as the mask sources have theirs (registry.ts,
 * boundedMaskSource): a post-processor that counts its work (`work`, contract.ts) is refused over
 * MAX_POST_WORK before it runs, on every host. Per fill in front of `process`, and per request
 * (the sum over its regions) where the host can ask before the model runs (the edge's `plan`).
 */

import type { WorkRegion } from "../imaging/plan.ts";
import type { Mask } from "../imaging/types.ts";
import { Problem } from "../problems.ts";
import { MAX_POST_WORK, type PostProcessorHooks, type PostWork, type RequestOptions } from "./contract.ts";

/** 422 mask-too-large when `w` (what post-processor `plugin` counted) is over the bound. */
export function checkPostWork(plugin: string, w: PostWork): PostWork {
  if (!(Number.isFinite(w.work) && w.work >= 0))
    throw new Problem("internal", `post-processor ${plugin} counted no work for its fill`, { plugin });
  if (w.work > MAX_POST_WORK) {
    const counted = Object.entries(w.counts)
      .map(([k, v]) => `${v} ${k.replaceAll("_", " ")}`)
      .join(", ");
    throw new Problem(
      "mask-too-large",
      `post-processor ${plugin} would take ${w.work} units of work on this mask (${counted}); the limit is ${MAX_POST_WORK}` +
        (w.instead ? `: ${w.instead}` : ""),
      { field: "mask", plugin, work: w.work, max_work: MAX_POST_WORK, ...w.counts },
    );
  }
  return w;
}

/** A post-processor's hooks with the bound in front of `process` (unchanged without `work`). */
export function boundedPostProcessor(name: string, hooks: PostProcessorHooks): PostProcessorHooks {
  const work = hooks.work?.bind(hooks);
  if (!work) return hooks;
  return {
    enabled: (o) => hooks.enabled(o),
    work: (region, mask, o) => checkPostWork(name, work(region, mask, o)),
    process(fill, image, mask, o) {
      checkPostWork(name, work(fill.region, mask, o));
      return hooks.process(fill, image, mask, o);
    },
  };
}

/** Each of `post` (the request's post-processors) over all of its regions: refused over the bound. */
export function checkRequestPostWork(
  post: readonly { plugin: { name: string }; hooks: PostProcessorHooks }[],
  regions: readonly WorkRegion[],
  mask: Mask,
  o: RequestOptions,
): void {
  for (const p of post) {
    if (!p.hooks.work) continue;
    const sum = { work: 0, counts: {} as Record<string, number>, instead: undefined as string | undefined };
    for (const r of regions) {
      const w = p.hooks.work(r, mask, o);
      sum.work += w.work;
      for (const [k, v] of Object.entries(w.counts)) sum.counts[k] = (sum.counts[k] ?? 0) + v;
      sum.instead ??= w.instead;
    }
    checkPostWork(p.plugin.name, sum);
  }
}

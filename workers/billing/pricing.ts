/**
 * Credits per inpaint call, from wrangler.toml vars: PRICE_TIERS ("up-to-MP:credits,...", the
 * last tier also covers anything larger) and PRICE_CACHE_HIT_PERCENT (share of the tier price a
 * cache hit costs, rounded up; 0 = hits are free).
 */
import type { Bindings } from "../env.ts";

export interface Pricing {
  tiers: { maxMegapixels: number; credits: number }[];
  cacheHitPercent: number;
}

const DEFAULT_TIERS = "1:1,4:2,8:4,16:8";

export function pricing(env: Partial<Bindings>): Pricing {
  const parse = (raw: string) =>
    raw
      .split(",")
      .map((t) => t.split(":").map((x) => Number(x.trim())))
      .filter(([mp, cr]) => mp > 0 && Number.isInteger(cr) && cr >= 0)
      .map(([maxMegapixels, credits]) => ({ maxMegapixels, credits }))
      .sort((a, b) => a.maxMegapixels - b.maxMegapixels);
  let tiers = parse(env.PRICE_TIERS ?? DEFAULT_TIERS);
  if (tiers.length === 0) tiers = parse(DEFAULT_TIERS); // a typo must not make calls free
  const pct = Number(env.PRICE_CACHE_HIT_PERCENT);
  return { tiers, cacheHitPercent: Number.isFinite(pct) && pct >= 0 ? Math.min(pct, 100) : 25 };
}

/** The full price of a call on a `width` x `height` image. */
export function callPrice(p: Pricing, width: number, height: number): number {
  const mp = (width * height) / 1e6;
  return (p.tiers.find((t) => mp <= t.maxMegapixels) ?? p.tiers[p.tiers.length - 1]).credits;
}

export const cacheHitPrice = (p: Pricing, fullPrice: number): number => Math.ceil((fullPrice * p.cacheHitPercent) / 100);

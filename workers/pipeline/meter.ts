/**
 * Stage `meter`, for metered callers of the synchronous route: a repeated Idempotency-Key answers
 * its stored response (uncharged); an empty mask passes the image through (free); otherwise the
 * call's credits are held before the cache or the GPU is touched, so a 402 costs no GPU work.
 */
import { canonicalJson, sha256Hex } from "../cache.ts";
import { passThrough, type Run } from "./run.ts";

export async function meter(run: Run): Promise<Response | undefined> {
  const { ctx, options: o } = run;
  const m = ctx.meter;
  const fingerprint = m && (await sha256Hex(canonicalJson({ image: run.image.sha256, mask: run.mask.sha256, options: o })));
  const replay = fingerprint ? await m?.claim(fingerprint) : undefined;
  if (replay) return replay;
  if (run.mask.empty && (!o.output_format || o.output_format === (await run.image.header()).format)) return passThrough(run);
  if (m) {
    const { width, height } = await run.image.header();
    await m.reserve(width, height);
  }
  return undefined;
}

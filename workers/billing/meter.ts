/**
 * Billing of one synchronous call (POST /v1/inpaint) for a metered caller. The handler calls
 * `claim()` (Idempotency-Key) once the request is read and `reserve()` before any GPU work
 * (402 when the available credits cannot cover the full price); the middleware then settles
 * from the response: one debit when an image with filled regions is returned (the cache-hit
 * price for X-Cache HIT or a coalesced wait), nothing for failures, empty masks and 304s.
 */
import type { MiddlewareHandler } from "hono";
import { Problem } from "../../shared/problems.ts";
import type { AppEnv } from "../app-env.ts";
import type { Bindings } from "../env.ts";
import { IdempotentRequest } from "../idempotency.ts";
import { availableCredits, balanceOf, type Hold, hold, release, settle } from "./ledger.ts";
import { cacheHitPrice, callPrice, pricing } from "./pricing.ts";

/** A hold outlives any call (several GPU calls for many regions), then stops counting. */
const HOLD_TTL_MS = 15 * 60_000;

export class Meter {
  private hold?: Hold;
  private replayed = false;

  constructor(
    private readonly env: Bindings,
    readonly accountId: string,
    private readonly idempotency: IdempotentRequest | undefined,
    private readonly requestId: string | undefined,
  ) {}

  /** Idempotency-Key: the stored response to replay (charged nothing), or undefined to go on. */
  async claim(fingerprint: string): Promise<Response | undefined> {
    const replay = await this.idempotency?.claim(fingerprint);
    if (replay) this.replayed = true;
    return replay;
  }

  /** Holds the full price of a call on this image; 402 when the available credits fall short. */
  async reserve(width: number, height: number): Promise<void> {
    const price = callPrice(pricing(this.env), width, height);
    if (price === 0 || this.hold) return;
    const h = await hold(this.env.DB, this.accountId, price, HOLD_TTL_MS);
    if (!h) {
      const available = (await availableCredits(this.env.DB, this.accountId)) ?? 0;
      throw new Problem("payment-required", `this call costs ${price} credits (${width}x${height}); ${available} are available`, {
        credits_required: price,
        credits_available: available,
      });
    }
    this.hold = h;
  }

  /** Settles or releases the hold, stores or frees the idempotency key, adds the credit headers. */
  async finish(res: Response): Promise<Response> {
    const billable = !this.replayed && res.status === 200 && res.headers.get("x-inpaint-regions") !== "0";
    let charged = 0;
    let remaining: number | null = null;
    if (this.hold) {
      if (billable) {
        const hit = res.headers.get("x-cache") === "HIT" || res.headers.has("x-coalesced");
        charged = hit ? cacheHitPrice(pricing(this.env), this.hold.amount) : this.hold.amount;
        remaining = await settle(this.env.DB, this.hold, charged, hit ? "inpaint-cache-hit" : "inpaint", this.requestId);
      } else await release(this.env.DB, this.hold);
      this.hold = undefined;
    }
    remaining ??= (await balanceOf(this.env.DB, this.accountId)) ?? 0;
    const kept = this.idempotency ? await this.idempotency.finish(res) : res;
    const out = new Response(kept.body, kept);
    out.headers.set("X-Credits-Charged", String(charged));
    out.headers.set("X-Credits-Remaining", String(remaining));
    return out;
  }
}

/** Billing and Idempotency-Key for a metered caller's call (after requireApiKey). */
export const meterCall = (): MiddlewareHandler<AppEnv> => async (c, next) => {
  const accountId = c.get("caller")?.accountId;
  if (!accountId) {
    // Unmetered dev key: an Idempotency-Key would promise a replay nothing stores.
    await next();
    return;
  }
  const meter = new Meter(
    c.env,
    accountId,
    IdempotentRequest.of(c.env, accountId, c.req.header("idempotency-key")),
    c.get("requestId"),
  );
  c.set("meter", meter);
  await next();
  c.res = await meter.finish(c.res);
};

/**
 * WebhookSender: one Durable Object per owner (an account, or a dev key) that makes that owner's
 * webhook attempts (workers/webhooks/deliver.ts `attemptDelivery`). The WEBHOOKS consumer hands
 * it a delivery id (`take`) and moves on; the sender's alarm works through what it holds, at most
 * MAX_IN_FLIGHT attempts at once. A receiver that hangs for the whole timeout holds one of its own
 * owner's slots, never another owner's delivery.
 */
import { DurableObject } from "cloudflare:workers";
import type { Bindings } from "../env.ts";
import { attemptDelivery } from "./deliver.ts";

/** Concurrent attempts per owner. */
export const MAX_IN_FLIGHT = 4;
const PREFIX = "d:";

export class WebhookSender extends DurableObject<Bindings> {
  /** Wakes a running alarm loop when a delivery arrives. */
  private wake: (() => void) | undefined;

  /** Holds delivery `id` for an attempt (stored: it survives eviction); answers at once. */
  async take(id: string): Promise<void> {
    this.ctx.storage.kv.put(`${PREFIX}${id}`, Date.now());
    if (this.wake) this.wake();
    else if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  /** Attempts what it holds, MAX_IN_FLIGHT at a time, until nothing is left. */
  override async alarm(): Promise<void> {
    const kv = this.ctx.storage.kv;
    const inFlight = new Map<string, Promise<void>>();
    for (;;) {
      for (const [key] of kv.list({ prefix: PREFIX })) {
        if (inFlight.size >= MAX_IN_FLIGHT) break;
        if (inFlight.has(key)) continue; // taken again while its attempt runs: after it
        kv.delete(key);
        const run = attemptDelivery(this.env, key.slice(PREFIX.length))
          .catch((e) => console.error(JSON.stringify({ webhook_delivery: key.slice(PREFIX.length), error: String(e) })))
          .finally(() => inFlight.delete(key));
        inFlight.set(key, run);
      }
      if (inFlight.size === 0) break;
      const woken = new Promise<void>((r) => {
        this.wake = r;
      });
      await Promise.race([woken, ...inFlight.values()]);
      this.wake = undefined;
    }
    this.wake = undefined;
  }
}

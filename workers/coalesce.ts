/**
 * In-flight coalescing: one Durable Object per cache key. The first request for a key becomes
 * the leader and computes; identical requests arriving meanwhile wait in `join()` until the
 * leader calls `finish()`, then read the stored result instead of running the GPU again.
 * The state is in memory only: an object lives while requests wait on it, and a leader that
 * dies without finishing releases its followers after `waitMs` (they then compute themselves).
 */
import { DurableObject } from "cloudflare:workers";

export type JoinResult = "lead" | "done" | "failed" | "timeout";

export class InpaintCoalescer extends DurableObject {
  /** When the current leader started (0: none). */
  private leaderSince = 0;
  private waiters: ((r: JoinResult) => void)[] = [];

  /**
   * "lead": compute, then call finish(); otherwise the leader's outcome (or "timeout"). A leader
   * older than `waitMs` is presumed dead and the caller takes over.
   */
  async join(waitMs: number): Promise<JoinResult> {
    const now = Date.now();
    if (this.leaderSince === 0 || now - this.leaderSince > waitMs) {
      this.leaderSince = now;
      return "lead";
    }
    return new Promise<JoinResult>((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve("timeout");
      }, waitMs);
      const done = (r: JoinResult) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.waiters.push(done);
    });
  }

  /** The leader's result is stored (ok) or could not be produced; wakes every follower. */
  async finish(ok: boolean): Promise<void> {
    this.leaderSince = 0;
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w(ok ? "done" : "failed");
  }
}

/**
 * Idempotency-Key (IETF draft) for billed POSTs, per account, in D1 (state) and R2 (response
 * bytes). The first request with a key claims it (an INSERT that only one request can win);
 * a repeat with the same request fingerprint gets the stored response and is charged nothing,
 * another fingerprint gets 422, and a repeat while the first still runs gets 409. Only
 * successful responses are kept: after a failure the key is free again, so a retry can succeed.
 * Keys live per account: two accounts using the same key never see each other's response.
 *
 * `IdempotentRequest` is the one way routes use this (POST /v1/inpaint through its meter,
 * POST /v1/jobs directly): what is stored and how a replay looks are decided here only.
 */
import { invalidOptions, Problem } from "../shared/problems.ts";
import { IdempotencyKey } from "../shared/schemas/limits.ts";
import type { Bindings } from "./env.ts";

/** A pending claim older than this is presumed abandoned (its isolate died). */
const PENDING_TTL_MS = 10 * 60_000;

export const idempotencyTtlMs = (env: Partial<Bindings>): number => {
  const s = Number(env.IDEMPOTENCY_TTL_S);
  return (Number.isFinite(s) && s > 0 ? s : 86400) * 1000;
};

export interface StoredResponse {
  status: number;
  headers: Record<string, string>;
  body: ArrayBuffer;
}

/** Reads and checks the header; undefined when absent. */
export function idempotencyKeyOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const key = header.trim().replace(/^"(.*)"$/, "$1");
  const r = IdempotencyKey.safeParse(key);
  // Over its length: 422 value-too-long, as for every stored string; otherwise a bad header.
  if (!r.success && r.error.issues.some((i) => i.code === "too_big")) throw invalidOptions(r.error, ["Idempotency-Key"]);
  if (!r.success)
    throw new Problem("bad-request", "Idempotency-Key must be 1 to 255 visible ASCII characters", { header: "Idempotency-Key" });
  return key;
}

const blobKey = (accountId: string, key: string) => `idempotency/${accountId}/${encodeURIComponent(key)}`;

/** Claims the key for this request; answers the stored response when it is a replay. */
async function claim(env: Bindings, accountId: string, key: string, fingerprint: string): Promise<StoredResponse | undefined> {
  const db = env.DB;
  const now = Date.now();
  const [, inserted, current] = await db.batch([
    db
      .prepare(
        "DELETE FROM idempotency_keys WHERE account_id = ?1 AND key = ?2 AND created_at <= (CASE state WHEN 'done' THEN ?3 ELSE ?4 END)",
      )
      .bind(accountId, key, now - idempotencyTtlMs(env), now - PENDING_TTL_MS),
    db
      .prepare(
        "INSERT INTO idempotency_keys (account_id, key, fingerprint, state, created_at) VALUES (?, ?, ?, 'pending', ?) ON CONFLICT DO NOTHING",
      )
      .bind(accountId, key, fingerprint, now),
    db
      .prepare("SELECT fingerprint, state, status, headers, blob_key FROM idempotency_keys WHERE account_id = ? AND key = ?")
      .bind(accountId, key),
  ]);
  if (inserted.meta.changes === 1) return undefined;
  const row = current.results[0] as { fingerprint: string; state: string; status: number; headers: string; blob_key: string };
  if (row.fingerprint !== fingerprint)
    throw new Problem("idempotency-mismatch", "this Idempotency-Key was used with a different request; use a new key");
  if (row.state === "pending")
    throw new Problem("idempotency-in-flight", "the first request with this Idempotency-Key has not finished yet", {}, 1);
  const blob = await env.BLOBS.get(row.blob_key);
  if (!blob) {
    // The bytes are gone (lifecycle rule): forget the key rather than fail every retry.
    await db.prepare("DELETE FROM idempotency_keys WHERE account_id = ? AND key = ?").bind(accountId, key).run();
    return claim(env, accountId, key, fingerprint);
  }
  return { status: row.status, headers: JSON.parse(row.headers), body: await blob.arrayBuffer() };
}

/** Stores the response of the request that claimed the key. */
async function complete(env: Bindings, accountId: string, key: string, res: StoredResponse): Promise<void> {
  const blob = blobKey(accountId, key);
  await env.BLOBS.put(blob, res.body);
  await env.DB.prepare(
    "UPDATE idempotency_keys SET state = 'done', status = ?, headers = ?, blob_key = ? WHERE account_id = ? AND key = ?",
  )
    .bind(res.status, JSON.stringify(res.headers), blob, accountId, key)
    .run();
}

/** Frees the key after a failure. */
async function abandon(env: Bindings, accountId: string, key: string): Promise<void> {
  await env.DB.prepare("DELETE FROM idempotency_keys WHERE account_id = ? AND key = ? AND state = 'pending'")
    .bind(accountId, key)
    .run();
}

/** Headers about this request rather than its result: never stored, never replayed. */
const PER_REQUEST = /^(ratelimit|ratelimit-policy|retry-after|x-request-id|x-credits-.*|server-timing|idempotent-replayed)$/i;

/** One request's use of an Idempotency-Key: claim it, then keep or free it by the outcome. */
export class IdempotentRequest {
  private claimed = false;

  constructor(
    private readonly env: Bindings,
    readonly accountId: string,
    readonly key: string,
  ) {}

  /** For a metered caller that sent the header; undefined without one (or for a dev key: nothing to bill, nothing kept). */
  static of(env: Bindings, accountId: string | undefined, header: string | undefined): IdempotentRequest | undefined {
    const key = idempotencyKeyOf(header);
    return key === undefined || !accountId ? undefined : new IdempotentRequest(env, accountId, key);
  }

  /**
   * The stored response (`Idempotent-Replayed: true`) when this is a repeat of a finished request,
   * else undefined and this request owns the key. 422 for another request, 409 while in flight.
   */
  async claim(fingerprint: string): Promise<Response | undefined> {
    const stored = await claim(this.env, this.accountId, this.key, fingerprint);
    if (!stored) {
      this.claimed = true;
      return undefined;
    }
    return new Response(stored.body, { status: stored.status, headers: { ...stored.headers, "Idempotent-Replayed": "true" } });
  }

  /** The claimed request ended with `res`: a 2xx is kept for replays, anything else frees the key. */
  async finish(res: Response): Promise<Response> {
    if (!this.claimed) return res;
    this.claimed = false;
    if (res.status < 200 || res.status >= 300) {
      await abandon(this.env, this.accountId, this.key);
      return res;
    }
    const body = await res.arrayBuffer();
    const headers: Record<string, string> = {};
    res.headers.forEach((v, k) => {
      if (!PER_REQUEST.test(k)) headers[k] = v;
    });
    await complete(this.env, this.accountId, this.key, { status: res.status, headers, body });
    return new Response(body, res);
  }

  /** The claimed request threw: the key is free for a retry. */
  async fail(): Promise<void> {
    if (!this.claimed) return;
    this.claimed = false;
    await abandon(this.env, this.accountId, this.key);
  }
}

/**
 * Per-owner webhook signing secrets in D1 (table webhook_secrets, migrations/0002). An owner
 * has one current secret (retires_at NULL); rotating gives it a retires_at and inserts a new
 * current one, and deliveries are signed with both until then so receivers can switch over.
 * The owner is the account id, or the `dev:<digest>` key id for unmetered dev keys.
 */
import { newSecret } from "../../shared/webhooks/signature.ts";

const randomHex = (n: number) =>
  [...crypto.getRandomValues(new Uint8Array(n))].map((b) => b.toString(16).padStart(2, "0")).join("");
const newId = () => `whs_${randomHex(8)}`;

const readCurrent = (db: D1Database, owner: string) =>
  db
    .prepare("SELECT secret FROM webhook_secrets WHERE owner = ? AND retires_at IS NULL ORDER BY created_at, id LIMIT 1")
    .bind(owner)
    .first<string>("secret");

/**
 * The owner's current secret, created on first use. The insert only happens when no current
 * secret exists (one statement, so atomic): concurrent first calls end with a single one.
 */
export async function currentSecret(db: D1Database, owner: string, now = Date.now()): Promise<string> {
  const existing = await readCurrent(db, owner);
  if (existing) return existing;
  await db
    .prepare(
      `INSERT INTO webhook_secrets (id, owner, secret, created_at, retires_at)
       SELECT ?1, ?2, ?3, ?4, NULL
       WHERE NOT EXISTS (SELECT 1 FROM webhook_secrets WHERE owner = ?2 AND retires_at IS NULL)`,
    )
    .bind(newId(), owner, newSecret(), now)
    .run();
  const created = await readCurrent(db, owner);
  if (!created) throw new Error(`no current webhook secret for ${owner} after inserting one`);
  return created;
}

/** What a delivery at `now` is signed with: the current secret first, then those still in their overlap, newest first. */
export async function signingSecrets(db: D1Database, owner: string, now = Date.now()): Promise<string[]> {
  await currentSecret(db, owner, now);
  const { results } = await db
    .prepare(
      `SELECT secret FROM webhook_secrets WHERE owner = ? AND (retires_at IS NULL OR retires_at > ?)
       ORDER BY retires_at IS NULL DESC, created_at DESC, id DESC`,
    )
    .bind(owner, now)
    .all<{ secret: string }>();
  return results.map((r) => r.secret);
}

/**
 * Replaces the current secret; the old one keeps signing for `overlapMs`. One batch (one
 * transaction): there is never a moment with no current secret or with two. Secrets whose
 * overlap has ended are deleted on the way.
 */
export async function rotateSecret(
  db: D1Database,
  owner: string,
  overlapMs: number,
  now = Date.now(),
): Promise<{ key: string; previous_retires_at: string | null }> {
  const key = newSecret();
  const retiresAt = now + Math.max(0, overlapMs);
  const [retired] = await db.batch([
    db
      .prepare("UPDATE webhook_secrets SET retires_at = ? WHERE owner = ? AND retires_at IS NULL RETURNING id")
      .bind(retiresAt, owner),
    db.prepare("DELETE FROM webhook_secrets WHERE owner = ? AND retires_at IS NOT NULL AND retires_at <= ?").bind(owner, now),
    db
      .prepare("INSERT INTO webhook_secrets (id, owner, secret, created_at, retires_at) VALUES (?, ?, ?, ?, NULL)")
      .bind(newId(), owner, key, now),
  ]);
  return { key, previous_retires_at: retired.results.length > 0 ? new Date(retiresAt).toISOString() : null };
}

/**
 * Accounts and their API keys in D1. A key is `gmk_` + 40 hex digits; only its first
 * KEY_PREFIX_LENGTH characters (the lookup index) and its SHA-256 are stored, so a database
 * leak yields no usable key and the key itself is shown once, at creation.
 */
import type { Account, ApiKeyInfo, CreateAccount, CreatedAccount, CreatedKey } from "../../shared/schemas/accounts.ts";
import { appendEntry } from "./ledger.ts";

export const KEY_PREFIX_LENGTH = 12;
export const KEY_PATTERN = /^gmk_[0-9a-f]{40}$/;

const hex = (bytes: ArrayBuffer | Uint8Array) => [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, "0")).join("");
const randomHex = (n: number) => hex(crypto.getRandomValues(new Uint8Array(n)));
const sha256 = (s: string) => crypto.subtle.digest("SHA-256", new TextEncoder().encode(s));
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

interface AccountRow {
  id: string;
  name: string;
  balance: number;
  rate_limit: number | null;
  created_at: number;
}
interface KeyRow {
  id: string;
  prefix: string;
  created_at: number;
  revoked_at: number | null;
}

const accountOut = (r: AccountRow): Account => ({
  id: r.id,
  name: r.name,
  credits_remaining: r.balance,
  rate_limit: r.rate_limit,
  created_at: iso(r.created_at) as string,
});
const keyOut = (r: KeyRow): ApiKeyInfo => ({
  id: r.id,
  prefix: r.prefix,
  created_at: iso(r.created_at) as string,
  revoked_at: iso(r.revoked_at),
});

function newKey(accountId: string, db: D1Database) {
  const apiKey = `gmk_${randomHex(20)}`;
  const row: KeyRow = {
    id: `key_${randomHex(8)}`,
    prefix: apiKey.slice(0, KEY_PREFIX_LENGTH),
    created_at: Date.now(),
    revoked_at: null,
  };
  return {
    apiKey,
    row,
    insert: async () =>
      db
        .prepare("INSERT INTO api_keys (id, account_id, prefix, hash, created_at) VALUES (?, ?, ?, ?, ?)")
        .bind(row.id, accountId, row.prefix, hex(await sha256(apiKey)), row.created_at),
  };
}

/** The account, its first key and its opening credits (a ledger grant), in one transaction. */
export async function createAccount(db: D1Database, a: CreateAccount): Promise<CreatedAccount> {
  const id = `acct_${randomHex(8)}`;
  const now = Date.now();
  const key = newKey(id, db);
  const stmts = [
    db
      .prepare("INSERT INTO accounts (id, name, balance, rate_limit, created_at) VALUES (?, ?, 0, ?, ?)")
      .bind(id, a.name, a.rate_limit ?? null, now),
    await key.insert(),
  ];
  if (a.credits > 0) stmts.push(appendEntry(db, id, a.credits, "grant", null, "opening credits"));
  await db.batch(stmts);
  return {
    account: accountOut({ id, name: a.name, balance: a.credits, rate_limit: a.rate_limit ?? null, created_at: now }),
    key: keyOut(key.row),
    api_key: key.apiKey,
  };
}

export async function getAccount(db: D1Database, id: string): Promise<Account | null> {
  const r = await db.prepare("SELECT * FROM accounts WHERE id = ?").bind(id).first<AccountRow>();
  return r ? accountOut(r) : null;
}

export async function listKeys(db: D1Database, accountId: string): Promise<ApiKeyInfo[]> {
  const { results } = await db
    .prepare("SELECT id, prefix, created_at, revoked_at FROM api_keys WHERE account_id = ? ORDER BY created_at")
    .bind(accountId)
    .all<KeyRow>();
  return results.map(keyOut);
}

export async function createKey(db: D1Database, accountId: string): Promise<CreatedKey> {
  const key = newKey(accountId, db);
  await (await key.insert()).run();
  return { key: keyOut(key.row), api_key: key.apiKey };
}

/** Revoked keys fail the next lookup: nothing caches keys, so this takes effect at once. */
export async function revokeKey(db: D1Database, accountId: string, keyId: string): Promise<boolean> {
  const r = await db
    .prepare("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ? AND account_id = ?")
    .bind(Date.now(), keyId, accountId)
    .run();
  return r.meta.changes === 1;
}

export interface KeyOwner {
  keyId: string;
  accountId: string;
  rateLimit: number | null;
}

/**
 * Prefix lookup, then a constant-time comparison of SHA-256 digests. Undefined for anything
 * that is not a live key of ours.
 */
export async function findKey(db: D1Database, presented: string): Promise<KeyOwner | undefined> {
  if (!KEY_PATTERN.test(presented)) return undefined;
  const row = await db
    .prepare(
      `SELECT k.id, k.hash, k.account_id, a.rate_limit FROM api_keys k JOIN accounts a ON a.id = k.account_id
       WHERE k.prefix = ? AND k.revoked_at IS NULL`,
    )
    .bind(presented.slice(0, KEY_PREFIX_LENGTH))
    .first<{ id: string; hash: string; account_id: string; rate_limit: number | null }>();
  if (!row) return undefined;
  const stored = new Uint8Array(row.hash.match(/../g)!.map((h) => Number.parseInt(h, 16)));
  if (!crypto.subtle.timingSafeEqual(await sha256(presented), stored)) return undefined;
  return { keyId: row.id, accountId: row.account_id, rateLimit: row.rate_limit };
}

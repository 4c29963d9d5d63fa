/**
 * Credits in D1. The balance changes only through ledger rows (a trigger applies each row, a
 * CHECK forbids a negative balance: migrations/0001_accounts.sql), so the ledger sums to the
 * balance by construction. A call first takes a hold (one conditional INSERT: it succeeds only
 * if balance minus the account's live holds covers it, so concurrent calls cannot overdraw),
 * then either settles it (hold deleted + one debit, in one batch = one transaction) or releases it.
 */
import type { LedgerEntry, LedgerKind, LedgerPage } from "../../shared/schemas/accounts.ts";

export interface Hold {
  id: string;
  accountId: string;
  amount: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Credits not held by calls in progress, or null when the account does not exist. */
export async function availableCredits(db: D1Database, accountId: string, now = Date.now()): Promise<number | null> {
  const row = await db
    .prepare(
      "SELECT balance - (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE account_id = ?1 AND expires_at > ?2) AS available FROM accounts WHERE id = ?1",
    )
    .bind(accountId, now)
    .first<{ available: number }>();
  return row ? row.available : null;
}

export async function balanceOf(db: D1Database, accountId: string): Promise<number | null> {
  const row = await db.prepare("SELECT balance FROM accounts WHERE id = ?").bind(accountId).first<{ balance: number }>();
  return row ? row.balance : null;
}

/** Sets `amount` aside; null (nothing held) when the available credits do not cover it. */
export async function hold(db: D1Database, accountId: string, amount: number, ttlMs: number): Promise<Hold | null> {
  const id = crypto.randomUUID();
  const now = Date.now();
  const [, inserted] = await db.batch([
    db.prepare("DELETE FROM holds WHERE account_id = ? AND expires_at <= ?").bind(accountId, now),
    db
      .prepare(
        `INSERT INTO holds (id, account_id, amount, expires_at)
         SELECT ?1, id, ?3, ?4 FROM accounts
         WHERE id = ?2 AND balance - (SELECT COALESCE(SUM(amount), 0) FROM holds WHERE account_id = ?2) >= ?3`,
      )
      .bind(id, accountId, amount, now + ttlMs),
  ]);
  return inserted.meta.changes === 1 ? { id, accountId, amount } : null;
}

/** Ends the hold and debits `charge` (<= the hold) in one transaction; answers the new balance. */
export async function settle(db: D1Database, h: Hold, charge: number, kind: LedgerKind, requestId?: string): Promise<number> {
  const stmts = [db.prepare("DELETE FROM holds WHERE id = ?").bind(h.id)];
  if (charge > 0) stmts.push(appendEntry(db, h.accountId, -charge, kind, requestId ?? null, null));
  stmts.push(db.prepare("SELECT balance FROM accounts WHERE id = ?").bind(h.accountId));
  const results = await db.batch<{ balance: number }>(stmts);
  return results[results.length - 1].results[0].balance;
}

export async function release(db: D1Database, h: Hold): Promise<void> {
  await db.prepare("DELETE FROM holds WHERE id = ?").bind(h.id).run();
}

/** One ledger row; the trigger applies it to the balance (and the CHECK refuses an overdraft). */
export function appendEntry(
  db: D1Database,
  accountId: string,
  delta: number,
  kind: LedgerKind,
  requestId: string | null,
  note: string | null,
): D1PreparedStatement {
  return db
    .prepare(
      `INSERT INTO ledger (account_id, delta, balance_after, kind, request_id, note, created_at)
       SELECT id, ?2, balance + ?2, ?3, ?4, ?5, ?6 FROM accounts WHERE id = ?1`,
    )
    .bind(accountId, delta, kind, requestId, note, Date.now());
}

interface LedgerRow {
  id: number;
  delta: number;
  balance_after: number;
  kind: LedgerKind;
  request_id: string | null;
  note: string | null;
  created_at: number;
}

/** Newest first; the cursor is the id of the last entry of the previous page. */
export async function ledgerPage(
  db: D1Database,
  accountId: string,
  q: { cursor?: string; limit: number },
): Promise<LedgerPage | null> {
  const [rows, bal] = await db.batch([
    db
      .prepare(
        "SELECT id, delta, balance_after, kind, request_id, note, created_at FROM ledger WHERE account_id = ?1 AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
      )
      .bind(accountId, q.cursor === undefined ? null : Number(q.cursor), q.limit + 1),
    db.prepare("SELECT balance FROM accounts WHERE id = ?").bind(accountId),
  ]);
  const balance = (bal.results[0] as { balance: number } | undefined)?.balance;
  if (balance === undefined) return null;
  const page = (rows.results as LedgerRow[]).slice(0, q.limit);
  const entries: LedgerEntry[] = page.map((r) => ({ ...r, created_at: iso(r.created_at) }));
  const more = rows.results.length > q.limit;
  return { credits_remaining: balance, entries, next_cursor: more ? String(page[page.length - 1].id) : null };
}

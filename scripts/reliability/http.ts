/**
 * What every phase of `npm run reliability` shares: HTTP on fresh loopback connections (no pool:
 * a reused socket that wrangler dev closed would blame the edge), the problem document check,
 * and the stack's persisted D1 and R2 read from their SQLite files (Debian's python3 sqlite3).
 */
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { PROBLEM_BASE, PROBLEMS } from "../../shared/problems.ts";

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  ms: number;
}

export interface Send {
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string | FormData;
  /** Send the body with Transfer-Encoding: chunked (no Content-Length). */
  chunked?: boolean;
  timeoutMs?: number;
}

/** One request on a new connection; a timeout answers status 0. */
export async function send(url: string, o: Send = {}): Promise<Answer> {
  let body: Buffer | undefined;
  const headers: Record<string, string> = { ...o.headers };
  if (o.body instanceof FormData) {
    const r = new Request("http://x/", { method: "POST", body: o.body });
    body = Buffer.from(await r.arrayBuffer());
    headers["content-type"] = r.headers.get("content-type") as string;
  } else if (o.body !== undefined) body = Buffer.from(o.body);
  if (body && !o.chunked) headers["content-length"] = String(body.length);
  if (body && o.chunked) headers["transfer-encoding"] = "chunked";
  const t = performance.now();
  return new Promise<Answer>((resolve) => {
    const req = request(url, { method: o.method ?? (body ? "POST" : "GET"), headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: Object.fromEntries(
            Object.entries(res.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(", ") : String(v)]),
          ),
          body: Buffer.concat(chunks),
          ms: performance.now() - t,
        }),
      );
      res.on("error", () => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), ms: performance.now() - t }));
    });
    req.setTimeout(o.timeoutMs ?? 60_000, () => req.destroy(new Error("timeout")));
    // The edge may answer (413, 401) before it has read a large body: keep the answer.
    req.on("error", (e: NodeJS.ErrnoException) => {
      if (e.code !== "EPIPE")
        resolve({ status: 0, headers: {}, body: Buffer.from(String(e.message)), ms: performance.now() - t });
    });
    if (body && o.chunked) {
      for (let i = 0; i < body.length; i += 65536) req.write(body.subarray(i, i + 65536));
      req.end();
    } else req.end(body);
  });
}

export const json = (a: Answer): Record<string, unknown> => {
  try {
    return JSON.parse(a.body.toString("utf8"));
  } catch {
    return {};
  }
};

/**
 * A well-formed RFC 9457 answer: application/problem+json whose `status` is the HTTP status and
 * whose `type` and `title` are one row of shared/problems.ts with that status.
 */
export function problemAgrees(a: Answer): boolean {
  if (!a.headers["content-type"]?.startsWith("application/problem+json")) return false;
  const doc = json(a);
  const kind = String(doc.type ?? "").slice(PROBLEM_BASE.length) as keyof typeof PROBLEMS;
  const row = PROBLEMS[kind];
  return (
    String(doc.type).startsWith(PROBLEM_BASE) &&
    row !== undefined &&
    row.status === a.status &&
    doc.status === a.status &&
    doc.title === row.title
  );
}

/** Runs one SQL query (read-only) on a SQLite file; rows as arrays. */
export function sqlite(file: string, sql: string, params: (string | number)[] = []): unknown[][] {
  const py = `import json,sqlite3,sys
c=sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True)
print(json.dumps(c.execute(sys.argv[2],json.loads(sys.argv[3])).fetchall()))`;
  const out = execFileSync("/usr/bin/python3", ["-c", py, file, sql, JSON.stringify(params)], { encoding: "utf8" });
  return JSON.parse(out);
}

const dataFile = (dir: string) => readdirSync(dir).find((f) => f.endsWith(".sqlite") && f !== "metadata.sqlite");

/** The stack's D1 database file under wrangler dev's persistence directory. */
export function d1File(persist: string): string {
  const dir = join(persist, "v3/d1/miniflare-D1DatabaseObject");
  const f = dataFile(dir);
  if (!f) throw new Error(`no D1 database under ${dir}`);
  return join(dir, f);
}

/** Keys of the R2 objects stored under `prefix` (none before the first put). */
export function r2Keys(persist: string, prefix = ""): string[] {
  const dir = join(persist, "v3/r2/miniflare-R2BucketObject");
  let f: string | undefined;
  try {
    f = dataFile(dir);
  } catch {
    return [];
  }
  if (!f) return [];
  return sqlite(join(dir, f), "SELECT key FROM _mf_objects WHERE key >= ? AND key < ? || char(1114111)", [prefix, prefix]).map(
    (r) => String(r[0]),
  );
}

/** What a refused request must leave unchanged for an account. */
export interface Footprint {
  balance: number;
  debits: number;
  holds: number;
  jobs: number;
  idempotencyKeys: number;
  uploads: number;
  objects: number;
}

export function footprint(persist: string, accountId: string): Footprint {
  const [row] = sqlite(
    d1File(persist),
    `SELECT (SELECT balance FROM accounts WHERE id = ?1),
            (SELECT COUNT(*) FROM ledger WHERE account_id = ?1 AND delta < 0),
            (SELECT COUNT(*) FROM holds WHERE account_id = ?1),
            (SELECT COUNT(*) FROM jobs WHERE account_id = ?1 OR owner = ?1),
            (SELECT COUNT(*) FROM idempotency_keys WHERE account_id = ?1)`,
    [accountId],
  ) as number[][];
  return {
    balance: row[0],
    debits: row[1],
    holds: row[2],
    jobs: row[3],
    idempotencyKeys: row[4],
    uploads: r2Keys(persist, `uploads/${encodeURIComponent(accountId)}/`).length,
    objects: r2Keys(persist).length,
  };
}

/** An account with `credits` (and its API key) through the admin API. */
export async function newAccount(
  edge: string,
  adminToken: string,
  name: string,
  credits: number,
  extra: Record<string, unknown> = {},
): Promise<{ id: string; key: string; auth: Record<string, string> }> {
  const a = await send(`${edge}/v1/admin/accounts`, {
    body: JSON.stringify({ name, credits, ...extra }),
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
  });
  if (a.status !== 201) throw new Error(`creating an account: HTTP ${a.status} ${a.body}`);
  const doc = json(a) as { api_key: string; account: { id: string } };
  return { id: doc.account.id, key: doc.api_key, auth: { authorization: `Bearer ${doc.api_key}` } };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

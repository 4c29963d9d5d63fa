/** What a refused request must leave alone, and how a refusal must look (shared by the probe suites). */
import { env } from "cloudflare:workers";
import { expect } from "vitest";

/** Balance, debits, holds, jobs and stored uploads of an account. */
export async function footprint(accountId: string) {
  const row = await env.DB.prepare(
    `SELECT (SELECT balance FROM accounts WHERE id = ?1) AS balance,
            (SELECT COUNT(*) FROM ledger WHERE account_id = ?1 AND delta < 0) AS debits,
            (SELECT COUNT(*) FROM holds WHERE account_id = ?1) AS holds,
            (SELECT COUNT(*) FROM jobs WHERE account_id = ?1) AS jobs`,
  )
    .bind(accountId)
    .first<{ balance: number; debits: number; holds: number; jobs: number }>();
  const uploads = await env.BLOBS.list({ prefix: `uploads/${encodeURIComponent(accountId)}/` });
  return { ...row, uploads: uploads.objects.length };
}

/** An application/problem+json response of `status` and problem type `kind`; its document. */
export async function expectProblem(res: Response, status: number, kind: string) {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  const doc = (await res.json()) as { type: string; status: number; title: string; detail: string } & Record<string, unknown>;
  expect([res.status, doc.status, doc.type]).toEqual([status, status, `https://gmcnn-edge.dev/problems/${kind}`]);
  return doc;
}

/**
 * The admin API (/v1/admin/*), behind its own secret ADMIN_TOKEN: accounts, their API keys
 * (shown once), credits and ledgers. Not reachable with API keys, and refused entirely while
 * no ADMIN_TOKEN is set.
 */
import { z } from "@hono/zod-openapi";
import type { Context, MiddlewareHandler } from "hono";
import { invalidOptions, Problem } from "../../shared/problems.ts";
import {
  Account,
  AddCredits,
  ApiKeyInfo,
  CreateAccount,
  CreatedAccount,
  CreatedKey,
  LedgerPage,
  LedgerQuery,
} from "../../shared/schemas/accounts.ts";
import type { AppEnv, AppInstance } from "../app-env.ts";
import { bearerToken, keyMatches } from "../auth.ts";
import { refuseAuth, refuseIfSpent } from "../auth-failures.ts";
import { createAccount, createKey, getAccount, listKeys, revokeKey } from "../billing/accounts.ts";
import { appendEntry, ledgerPage } from "../billing/ledger.ts";
import { noStore } from "../no-store.ts";
import { problemResponses } from "../openapi.ts";

export const requireAdmin = (): MiddlewareHandler<AppEnv> => async (c, next) => {
  const token = bearerToken(c.req.header("authorization"));
  if (!c.env.ADMIN_TOKEN) throw new Problem("admin-unauthorized", "this deployment has no admin token (secret ADMIN_TOKEN)");
  const refusal = () => new Problem("admin-unauthorized", "send the admin token as `Authorization: Bearer <ADMIN_TOKEN>`");
  if (!token) throw refusal();
  // Failed attempts are counted and limited per client address (workers/auth-failures.ts).
  refuseIfSpent(c, "admin", token);
  if (!(await keyMatches(token, [c.env.ADMIN_TOKEN]))) return refuseAuth(c, "admin", token, refusal());
  await next();
};

/** Parses a JSON body with a shared schema; problems are 400 invalid-options with the issues. */
export async function jsonBody<T extends z.ZodType>(c: Context<AppEnv>, schema: T): Promise<z.infer<T>> {
  let raw: unknown;
  try {
    raw = await c.req.json();
  } catch {
    throw new Problem("bad-request", "send a JSON body (Content-Type: application/json)");
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw invalidOptions(r.error);
  return r.data;
}

async function accountOr404(c: Context<AppEnv>, id: string): Promise<Account> {
  const a = await getAccount(c.env.DB, id);
  if (!a) throw new Problem("not-found", `no account ${id}`);
  return a;
}

const json = (schema: z.ZodType, description: string) => ({ description, content: { "application/json": { schema } } });
const AccountId = z.object({ id: z.string() });
const security = [{ admin: [] }];

export function registerAdmin(app: AppInstance): void {
  app.openAPIRegistry.registerComponent("securitySchemes", "admin", {
    type: "http",
    scheme: "bearer",
    description: "the ADMIN_TOKEN secret",
  });
  const reg = app.openAPIRegistry;
  reg.registerPath({
    method: "post",
    path: "/v1/admin/accounts",
    summary: "Create an account with opening credits and its first API key (shown once)",
    security,
    request: { body: { required: true, content: { "application/json": { schema: CreateAccount } } } },
    responses: { 201: json(CreatedAccount, "Created"), ...problemResponses([400, 401]) },
  });
  reg.registerPath({
    method: "get",
    path: "/v1/admin/accounts/{id}",
    summary: "An account, its balance and its keys (prefixes only)",
    security,
    request: { params: AccountId },
    responses: {
      200: json(Account.extend({ keys: z.array(ApiKeyInfo) }), "The account"),
      ...problemResponses([401, 404]),
    },
  });
  reg.registerPath({
    method: "post",
    path: "/v1/admin/accounts/{id}/keys",
    summary: "Create another API key for the account (shown once)",
    security,
    request: { params: AccountId },
    responses: { 201: json(CreatedKey, "Created"), ...problemResponses([401, 404]) },
  });
  reg.registerPath({
    method: "delete",
    path: "/v1/admin/accounts/{id}/keys/{key_id}",
    summary: "Revoke an API key: refused from the next request on",
    security,
    request: { params: AccountId.extend({ key_id: z.string() }) },
    responses: { 204: { description: "Revoked" }, ...problemResponses([401, 404]) },
  });
  reg.registerPath({
    method: "post",
    path: "/v1/admin/accounts/{id}/credits",
    summary: "Add credits (one ledger entry)",
    security,
    request: { params: AccountId, body: { required: true, content: { "application/json": { schema: AddCredits } } } },
    responses: { 200: json(Account, "The account with its new balance"), ...problemResponses([400, 401, 404]) },
  });
  reg.registerPath({
    method: "get",
    path: "/v1/admin/accounts/{id}/ledger",
    summary: "The account's ledger, newest first",
    security,
    request: { params: AccountId, query: LedgerQuery },
    responses: {
      200: json(LedgerPage, "One page; pass next_cursor as cursor for the next"),
      ...problemResponses([400, 401, 404]),
    },
  });

  app.use("/v1/admin/*", requireAdmin());

  app.post("/v1/admin/accounts", noStore(), async (c) =>
    c.json(await createAccount(c.env.DB, await jsonBody(c, CreateAccount)), 201),
  );

  app.get("/v1/admin/accounts/:id", async (c) => {
    const a = await accountOr404(c, c.req.param("id"));
    return c.json({ ...a, keys: await listKeys(c.env.DB, a.id) });
  });

  app.post("/v1/admin/accounts/:id/keys", noStore(), async (c) => {
    const a = await accountOr404(c, c.req.param("id"));
    return c.json(await createKey(c.env.DB, a.id), 201);
  });

  app.delete("/v1/admin/accounts/:id/keys/:key_id", async (c) => {
    const { id, key_id } = c.req.param();
    if (!(await revokeKey(c.env.DB, id, key_id))) throw new Problem("not-found", `account ${id} has no key ${key_id}`);
    return c.body(null, 204);
  });

  app.post("/v1/admin/accounts/:id/credits", async (c) => {
    const a = await accountOr404(c, c.req.param("id"));
    const body = await jsonBody(c, AddCredits);
    await appendEntry(c.env.DB, a.id, body.credits, "grant", c.get("requestId") ?? null, body.note ?? null).run();
    return c.json(await accountOr404(c, a.id));
  });

  app.get("/v1/admin/accounts/:id/ledger", async (c) => {
    const q = LedgerQuery.safeParse(c.req.query());
    if (!q.success) throw new Problem("bad-request", "cursor must be a next_cursor value, limit 1 to 200");
    const page = await ledgerPage(c.env.DB, c.req.param("id"), q.data);
    if (!page) throw new Problem("not-found", `no account ${c.req.param("id")}`);
    return c.json(page);
  });
}

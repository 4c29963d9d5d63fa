import { z } from "zod";
import { STRING_LIMITS } from "./limits.ts";

/** Body of POST /v1/admin/accounts (strict: a misspelt member is a 400, not silently dropped). */
export const CreateAccount = z
  .object({
    name: z.string().trim().min(1).max(STRING_LIMITS.name, `at most ${STRING_LIMITS.name} characters`),
    credits: z.number().int().min(0).default(0),
    /** Requests per rate-limit window for this account's keys (default: the RATE_LIMIT_REQUESTS var). */
    rate_limit: z.number().int().positive().optional(),
  })
  .strict();
export type CreateAccount = z.infer<typeof CreateAccount>;

/** Body of POST /v1/admin/accounts/{id}/credits. */
export const AddCredits = z
  .object({
    credits: z.number().int().positive(),
    note: z.string().max(STRING_LIMITS.note, `at most ${STRING_LIMITS.note} characters`).optional(),
  })
  .strict();
export type AddCredits = z.infer<typeof AddCredits>;

export const Account = z.object({
  id: z.string(),
  name: z.string(),
  credits_remaining: z.number().int(),
  rate_limit: z.number().int().nullable(),
  created_at: z.string().describe("ISO 8601"),
});
export type Account = z.infer<typeof Account>;

export const ApiKeyInfo = z.object({
  id: z.string(),
  prefix: z.string().describe("the first characters of the key, enough to recognise it"),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
export type ApiKeyInfo = z.infer<typeof ApiKeyInfo>;

/** Answer of account and key creation: the key itself appears here only, once. */
export const CreatedAccount = z.object({ account: Account, key: ApiKeyInfo, api_key: z.string() });
export type CreatedAccount = z.infer<typeof CreatedAccount>;
export const CreatedKey = z.object({ key: ApiKeyInfo, api_key: z.string() });
export type CreatedKey = z.infer<typeof CreatedKey>;

/** Ledger kinds: credits granted by an admin, or an inpaint call charged (full price or cache hit). */
export const LedgerKind = z.enum(["grant", "inpaint", "inpaint-cache-hit"]);
export type LedgerKind = z.infer<typeof LedgerKind>;

export const LedgerEntry = z.object({
  id: z.number().int(),
  delta: z.number().int().describe("credits added (> 0) or charged (< 0)"),
  balance_after: z.number().int(),
  kind: LedgerKind,
  request_id: z.string().nullable(),
  note: z.string().nullable(),
  created_at: z.string(),
});
export type LedgerEntry = z.infer<typeof LedgerEntry>;

/** GET /v1/usage and GET /v1/admin/accounts/{id}/ledger: newest first, `next_cursor` for the next page. */
export const LedgerPage = z.object({
  credits_remaining: z.number().int(),
  entries: z.array(LedgerEntry),
  next_cursor: z.string().nullable(),
});
export type LedgerPage = z.infer<typeof LedgerPage>;

export const LedgerQuery = z.object({
  cursor: z.string().regex(/^\d+$/).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type LedgerQuery = z.infer<typeof LedgerQuery>;

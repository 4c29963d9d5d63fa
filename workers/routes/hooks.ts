/**
 * Incoming webhook triggers: POST /v1/hooks/{integration}. An integration (an image-editing SaaS,
 * a CI system, a media library) posts an event signed with its secret; the integration's
 * webhook-source plugin (Standard Webhooks, GitHub-style, Cloudinary: gmcnn.config.ts) verifies
 * it and maps its payload to a job; the edge drops a replayed delivery id, fetches the inputs
 * (upload limits, SSRF guard) and creates a job billed to the integration's account.
 * Admin: POST /v1/admin/integrations.
 */
import { z } from "@hono/zod-openapi";
import type { WebhookSourceHooks } from "../../shared/plugins/contract.ts";
import { Problem } from "../../shared/problems.ts";
import { CreatedIntegration, CreateIntegration, HookEvent, Job } from "../../shared/schemas/jobs.ts";
import type { AppInstance } from "../app-env.ts";
import { getAccount } from "../billing/accounts.ts";
import { limitBody } from "../body-limit.ts";
import { sha256Hex } from "../cache.ts";
import { hookReplayRetentionMs } from "../env.ts";
import { createJob } from "../jobs/create.ts";
import { jobRequestFromJson } from "../jobs/inputs.ts";
import { jobView } from "../jobs/view.ts";
import { noStore } from "../no-store.ts";
import { problemResponses } from "../openapi.ts";
import { edgePlugins } from "../plugins/index.ts";
import { enforceRateLimit } from "../ratelimit.ts";
import { jsonBody, requireAdmin } from "./admin.ts";
import { publicBase } from "./jobs.ts";

/** An event names URLs, not files: a small body. */
const MAX_EVENT_BYTES = 64 * 1024;

/**
 * What every refused event answers, whatever the reason (no or a wrong signature, a stale
 * timestamp, an unknown or disabled integration): the reason would tell a stranger which
 * integrations exist and how they sign.
 */
const badSignature = () =>
  new Problem(
    "invalid-signature",
    "the event's signature does not verify for this integration (see docs/api.md for the headers each source signs with)",
  );

/** A secret of the source's own form that no integration has (one per isolate). */
const decoys = new WeakMap<WebhookSourceHooks, string>();
function decoySecret(source: WebhookSourceHooks): string {
  let s = decoys.get(source);
  if (!s) {
    s = source.newSecret?.() ?? crypto.randomUUID();
    decoys.set(source, s);
  }
  return s;
}

interface IntegrationRow {
  name: string;
  account_id: string;
  secret: string;
  /** The webhook-source plugin that verifies and maps its events (gmcnn.config.ts). */
  source: string;
  disabled_at: number | null;
}

export function registerHooks(app: AppInstance): void {
  const reg = app.openAPIRegistry;
  reg.registerPath({
    method: "post",
    path: "/v1/hooks/{integration}",
    summary:
      "Trigger a job with a signed event from an integration (its webhook source: Standard Webhooks, GitHub-style, Cloudinary)",
    description:
      "The integration's webhook-source plugin verifies the signature and maps the payload to a job. Standard Webhooks " +
      "(default): headers webhook-id, webhook-timestamp (within 5 minutes) and webhook-signature (v1, HMAC-SHA256 with " +
      "the integration's whsec_ secret over `id.timestamp.body`), body as below. `github`: X-Hub-Signature-256 and " +
      "X-GitHub-Delivery, body {event_type, client_payload:{image_url, mask_url|mask_shapes, options, callback_url}}. " +
      "`cloudinary`: X-Cld-Signature and X-Cld-Timestamp on an upload notification whose context names the mask " +
      "(docs/plugins.md). A delivery id is accepted once. The job is billed to the integration's account.",
    request: {
      params: z.object({ integration: z.string() }),
      body: { required: true, content: { "application/json": { schema: HookEvent } } },
    },
    responses: {
      200: {
        description: "Verified, but the event asks for nothing (a ping, another notification type)",
        content: { "application/json": { schema: z.object({ ignored: z.string() }) } },
      },
      202: { description: "The job created", content: { "application/json": { schema: Job } } },
      ...problemResponses([400, 401, 402, 409, 413, 415, 422, 503]),
    },
  });
  reg.registerPath({
    method: "post",
    path: "/v1/admin/integrations",
    summary: "Register an integration that may trigger jobs billed to an account; its signing secret is shown once",
    security: [{ admin: [] }],
    request: { body: { required: true, content: { "application/json": { schema: CreateIntegration } } } },
    responses: {
      201: { description: "Created", content: { "application/json": { schema: CreatedIntegration } } },
      ...problemResponses([400, 401, 404, 409]),
    },
  });

  app.post("/v1/admin/integrations", requireAdmin(), noStore(), async (c) => {
    const body = await jsonBody(c, CreateIntegration);
    if (!(await getAccount(c.env.DB, body.account_id))) throw new Problem("not-found", `no account ${body.account_id}`);
    const plugins = await edgePlugins(c.env);
    if (!plugins.webhookSources.has(body.source))
      throw new Problem(
        "bad-request",
        `no webhook source ${body.source} (have: ${[...plugins.webhookSources.keys()].join(", ")})`,
        {
          field: "source",
        },
      );
    const source = plugins.webhookSource(body.source);
    // Ours when the sender takes a secret we issue; the sender's own otherwise (e.g. an API secret).
    const issued = body.secret === undefined ? source.newSecret?.() : undefined;
    const secret = body.secret ?? issued;
    if (!secret)
      throw new Problem("bad-request", `the ${body.source} source signs with the sender's own secret: send it as "secret"`, {
        field: "secret",
      });
    const r = await c.env.DB.prepare(
      "INSERT INTO integrations (name, account_id, secret, source, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
    )
      .bind(body.name, body.account_id, secret, body.source, Date.now())
      .run();
    if (r.meta.changes !== 1) throw new Problem("bad-request", `an integration named ${body.name} exists`, { field: "name" });
    const url = `${publicBase(c)}/v1/hooks/${body.name}`;
    return c.json(
      { name: body.name, account_id: body.account_id, source: body.source, ...(issued ? { secret: issued } : {}), url },
      201,
    );
  });

  app.post(
    "/v1/hooks/:integration",
    limitBody(
      () => MAX_EVENT_BYTES,
      (max) => new Problem("payload-too-large", `an event is at most ${max} bytes (inputs go by URL)`, { limit_bytes: max }),
    ),
    async (c) => {
      const name = c.req.param("integration");
      const row = await c.env.DB.prepare("SELECT * FROM integrations WHERE name = ?").bind(name).first<IntegrationRow>();
      const integration = row && row.disabled_at === null ? row : null;
      const body = await c.req.text();
      const tolerance = Number(c.env.HOOK_TOLERANCE_S) > 0 ? Number(c.env.HOOK_TOLERANCE_S) : 300;
      const plugins = await edgePlugins(c.env);
      // An unknown (or disabled) integration's event is verified too, by the first loaded source
      // against a secret nobody has: it does the same work and gets the same answer as a bad
      // signature, so a stranger cannot tell which integrations exist.
      const source = plugins.webhookSource(integration?.source ?? (plugins.webhookSources.keys().next().value as string));
      const signed = { headers: c.req.raw.headers, body };
      let id: string;
      let signedContent: string;
      try {
        ({ id, signed: signedContent } = await source.verify(signed, integration?.secret ?? decoySecret(source), {
          nowS: Math.floor(Date.now() / 1000),
          toleranceS: tolerance,
        }));
      } catch (e) {
        if (!(e instanceof Problem && e.kind === "invalid-signature")) throw e;
        // The reason stays in the log (with the request id), not in the answer.
        console.log(
          JSON.stringify({
            request_id: c.get("requestId"),
            hook: name,
            refused: integration ? e.message : "unknown integration",
          }),
        );
        throw badSignature();
      }
      if (!integration) throw badSignature();
      // Signed events count against a rate limit of their own, like an API key's.
      await enforceRateLimit(c, `hook:${name}`);

      // Claim the webhook-id first: of two concurrent deliveries of one event, one creates the job.
      const claimed = await c.env.DB.prepare(
        "INSERT INTO hook_receipts (integration, webhook_id, received_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      )
        .bind(name, id, Date.now())
        .run();
      if (claimed.meta.changes !== 1)
        throw new Problem("webhook-replayed", `webhook-id ${id} was already received`, { webhook_id: id });
      const release = () =>
        c.env.DB.prepare("DELETE FROM hook_receipts WHERE integration = ? AND webhook_id = ?").bind(name, id).run();
      // Then what the signature covers: a delivery id it does not cover (X-GitHub-Delivery) is
      // anyone's to change, so the same signed content under a new id is a replay too. A claim
      // older than the retention window is taken over.
      const digest = await sha256Hex(signedContent);
      const now = Date.now();
      const fresh = await c.env.DB.prepare(
        `INSERT INTO hook_digests (integration, digest, webhook_id, received_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (integration, digest) DO UPDATE SET webhook_id = ?3, received_at = ?4, job_id = NULL
         WHERE hook_digests.received_at < ?5`,
      )
        .bind(name, digest, id, now, now - hookReplayRetentionMs(c.env))
        .run();
      if (fresh.meta.changes !== 1) {
        await release();
        const first = await c.env.DB.prepare("SELECT webhook_id, job_id FROM hook_digests WHERE integration = ? AND digest = ?")
          .bind(name, digest)
          .first<{ webhook_id: string; job_id: string | null }>();
        throw new Problem(
          "webhook-replayed",
          `this signed event was already received (as ${first?.webhook_id ?? "another delivery"}); a replay under a new delivery id creates no job and is charged nothing`,
          { webhook_id: id, first_webhook_id: first?.webhook_id ?? null, job_id: first?.job_id ?? null },
        );
      }
      try {
        let raw: unknown;
        try {
          raw = JSON.parse(body);
        } catch (e) {
          throw new Problem("bad-request", `the event is not JSON (${(e as Error).message})`);
        }
        const mapped = source.toJob(raw, signed);
        // Verified and acted on (nothing to do): the receipt stays, so a replay is still refused.
        if ("ignore" in mapped) return c.json({ ignored: mapped.ignore }, 200);
        const req = await jobRequestFromJson(c.env, integration.account_id, mapped.job);
        const job = await createJob(c.env, { owner: integration.account_id, accountId: integration.account_id }, req, {
          source: `hook:${name}`,
          requestId: c.get("requestId"),
          base: publicBase(c),
        });
        await c.env.DB.batch([
          c.env.DB.prepare("UPDATE hook_receipts SET job_id = ? WHERE integration = ? AND webhook_id = ?").bind(job.id, name, id),
          c.env.DB.prepare("UPDATE hook_digests SET job_id = ? WHERE integration = ? AND digest = ?").bind(job.id, name, digest),
        ]);
        return c.json(await jobView(c.env, job), 202, { Location: `/v1/jobs/${job.id}` });
      } catch (e) {
        // Not accepted: the sender may retry the same event (same webhook-id) once it is fixed.
        await c.env.DB.batch([
          c.env.DB.prepare("DELETE FROM hook_receipts WHERE integration = ? AND webhook_id = ?").bind(name, id),
          c.env.DB.prepare("DELETE FROM hook_digests WHERE integration = ? AND digest = ?").bind(name, digest),
        ]);
        throw e;
      }
    },
  );
}

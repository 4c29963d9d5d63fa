/**
 * The typed client: `new Gmcnn({ apiKey })` on a server, `new Gmcnn({ token })` in a page (a
 * browser token from POST /v1/tokens, or a function that fetches a fresh one). Plain `fetch`:
 * Node 20, browsers, Workers. Types come from shared/schemas (the API's own zod schemas).
 */
import type { PluginInfo } from "../shared/plugins/registry.ts";
import type { LedgerPage } from "../shared/schemas/accounts.ts";
import type { DeliveryList, Job, JobList } from "../shared/schemas/jobs.ts";
import type { BrowserToken, CreateToken } from "../shared/schemas/tokens.ts";
import type { UploadInfo } from "../shared/schemas/uploads.ts";
import type { RotatedWebhookSecret, WebhookSecret } from "../shared/schemas/webhook-secrets.ts";
import { GmcnnError } from "./errors.ts";
import { type Call, type RetryEvent, type RetryPolicy, type TokenSource, Transport } from "./http.ts";
import { type ImageInput, type InpaintRequest, inpaintForm, jobJson, toBlob } from "./inputs.ts";
import { OPERATIONS } from "./operations.ts";
import { verify } from "./webhooks.ts";

export interface GmcnnOptions {
  /** The API's origin, e.g. https://api.example.com (default: this page's origin in a browser). */
  baseUrl?: string;
  /** An API key (servers only: never ship it to a browser). */
  apiKey?: string;
  /** A browser token, or a function returning a fresh one (called before every request). */
  token?: TokenSource;
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
  onRetry?: (e: RetryEvent) => void;
}

/** The inpainted image and what the API said about it. */
export interface InpaintResult {
  blob: Blob;
  contentType: string;
  requestId: string | null;
  model: string | null;
  cache: string | null;
  creditsCharged: number | null;
  creditsRemaining: number | null;
  /** True when a repeated Idempotency-Key replayed a stored answer. */
  replayed: boolean;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Your own key for this call (default: a new one per call, kept across its retries). */
  idempotencyKey?: string;
}

export interface CreateJobRequest extends InpaintRequest {
  webhook?: string;
  webhook_events_filter?: ("started" | "completed")[];
  /** Wait up to this many seconds (max 60) for the job to finish before answering (`Prefer: wait`). */
  wait?: number;
}

export interface WaitOptions {
  /** Give up after this long (default 10 minutes); the job keeps running. */
  timeoutMs?: number;
  /** First poll interval (default 500 ms), growing to 5 s. */
  intervalMs?: number;
  signal?: AbortSignal;
}

const FINAL = new Set<Job["status"]>(["succeeded", "failed", "canceled"]);
const num = (v: string | null) => (v === null || v === "" ? null : Number(v));
const json = <T>(res: Response) => res.json() as Promise<T>;

export class Gmcnn {
  readonly http: Transport;
  private readonly doFetch: typeof fetch;

  constructor(o: GmcnnOptions) {
    const auth = o.token ?? o.apiKey;
    if (auth === undefined) throw new TypeError("pass apiKey (servers) or token (browsers)");
    const baseUrl = o.baseUrl ?? (globalThis as { location?: { origin?: string } }).location?.origin;
    if (!baseUrl) throw new TypeError("pass baseUrl, the API's origin");
    this.doFetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.http = new Transport({ baseUrl, auth, fetch: this.doFetch, retry: o.retry, onRetry: o.onRetry });
  }

  private send(c: Call): Promise<Response> {
    return this.http.send(c);
  }

  /** POST /v1/inpaint: the image with the mask's area filled; unmasked pixels unchanged. */
  async inpaint(r: InpaintRequest, o: CallOptions = {}): Promise<InpaintResult> {
    const form = await inpaintForm(r, this.doFetch);
    const res = await this.send({ op: OPERATIONS.inpaint, body: () => form, signal: o.signal, idempotencyKey: o.idempotencyKey });
    const h = res.headers;
    return {
      blob: await res.blob(),
      contentType: h.get("content-type") ?? "application/octet-stream",
      requestId: h.get("x-request-id"),
      model: h.get("x-model"),
      cache: h.get("x-cache"),
      creditsCharged: num(h.get("x-credits-charged")),
      creditsRemaining: num(h.get("x-credits-remaining")),
      replayed: h.get("idempotent-replayed") === "true",
    };
  }

  readonly uploads = {
    /** POST /v1/uploads: store an image once (same bytes, same id) and inpaint it by `{ uploadId }`. */
    create: async (image: Exclude<ImageInput, { uploadId: string }>, o: CallOptions = {}): Promise<UploadInfo> => {
      const blob =
        image instanceof URL || typeof image === "string"
          ? await (await this.doFetch(String(image))).blob()
          : toBlob(image as Blob | ArrayBuffer | ArrayBufferView);
      const res = await this.send({
        op: OPERATIONS["uploads.create"],
        body: () => {
          const f = new FormData();
          f.append("file", blob, "image");
          return f;
        },
        signal: o.signal,
      });
      return json<UploadInfo>(res);
    },
    /** DELETE /v1/uploads/{id}. */
    delete: async (id: string, o: CallOptions = {}): Promise<void> => {
      await this.send({ op: OPERATIONS["uploads.delete"], params: { id }, signal: o.signal });
    },
  };

  readonly jobs = {
    /** POST /v1/jobs: inputs by bytes (multipart) or by URL / upload id / shapes (JSON). */
    create: async ({ wait, webhook, webhook_events_filter, ...r }: CreateJobRequest, o: CallOptions = {}): Promise<Job> => {
      const asJson = jobJson(r, { webhook, webhook_events_filter });
      const form = asJson
        ? undefined
        : await inpaintForm(r, this.doFetch, { webhook, webhook_events_filter: webhook_events_filter?.join(",") });
      const res = await this.send({
        op: OPERATIONS["jobs.create"],
        body: () => (asJson ? JSON.stringify(asJson) : (form as FormData)),
        contentType: asJson ? "application/json" : undefined,
        headers: wait ? { Prefer: `wait=${wait}` } : {},
        signal: o.signal,
        idempotencyKey: o.idempotencyKey,
      });
      return json<Job>(res);
    },
    get: async (id: string, o: CallOptions = {}): Promise<Job> =>
      json<Job>(await this.send({ op: OPERATIONS["jobs.get"], params: { id }, signal: o.signal })),
    list: async (q: { cursor?: string; limit?: number } = {}, o: CallOptions = {}): Promise<JobList> =>
      json<JobList>(await this.send({ op: OPERATIONS["jobs.list"], query: q, signal: o.signal })),
    cancel: async (id: string, o: CallOptions = {}): Promise<Job> =>
      json<Job>(await this.send({ op: OPERATIONS["jobs.cancel"], params: { id }, signal: o.signal })),
    /** Polls until the job is final (succeeded, failed or canceled) and returns it. */
    wait: async (id: string, o: WaitOptions = {}): Promise<Job> => {
      const deadline = Date.now() + (o.timeoutMs ?? 600_000);
      let interval = o.intervalMs ?? 500;
      for (;;) {
        const job = await this.jobs.get(id, { signal: o.signal });
        if (FINAL.has(job.status)) return job;
        if (Date.now() + interval > deadline)
          throw new GmcnnError({
            type: "urn:gmcnn:sdk:wait-timeout",
            title: "Timed out waiting for the job",
            status: 0,
            detail: `job ${id} is still ${job.status}`,
            job,
          });
        await new Promise((r) => setTimeout(r, interval));
        interval = Math.min(5000, Math.round(interval * 1.5));
      }
    },
    /** The result image of a succeeded job (its signed URL, or the job id with your credentials). */
    result: async (job: Job | string, o: CallOptions = {}): Promise<Blob> => {
      const id = typeof job === "string" ? job : job.id;
      const res = await this.send({ op: OPERATIONS["jobs.result"], params: { id }, signal: o.signal });
      return res.blob();
    },
    deliveries: async (id: string, o: CallOptions = {}): Promise<DeliveryList> =>
      json(await this.send({ op: OPERATIONS["jobs.deliveries"], params: { id }, signal: o.signal })),
  };

  /**
   * GET /v1/usage: credits and ledger, for a metered (account) key. A dev key (the Worker's
   * API_KEYS, e.g. the one `npm start` prints first) is unmetered: it has no ledger, and this
   * throws a GmcnnError with status 403 (kind `forbidden`): "dev keys (API_KEYS) are unmetered and have no account".
   */
  async usage(q: { cursor?: string; limit?: number } = {}, o: CallOptions = {}): Promise<LedgerPage> {
    return json<LedgerPage>(await this.send({ op: OPERATIONS.usage, query: q, signal: o.signal }));
  }

  /** GET /v1/plugins: what the deployment has loaded (name, version, kind, options). */
  async plugins(o: CallOptions = {}): Promise<PluginList> {
    return json<PluginList>(await this.send({ op: OPERATIONS.plugins, signal: o.signal }));
  }

  readonly tokens = {
    /** POST /v1/tokens (servers, with an API key): a short-lived browser token for a page. */
    create: async (req: CreateToken = {}, o: CallOptions = {}): Promise<BrowserToken> =>
      json<BrowserToken>(
        await this.send({
          op: OPERATIONS["tokens.create"],
          body: () => JSON.stringify(req),
          contentType: "application/json",
          signal: o.signal,
        }),
      ),
  };

  readonly webhooks = {
    verify,
    /** GET /v1/webhooks/default/secret: your whsec_ signing secret (created on first use). */
    secret: async (o: CallOptions = {}): Promise<WebhookSecret> =>
      json<WebhookSecret>(await this.send({ op: OPERATIONS["webhooks.secret"], signal: o.signal })),
    /** POST /v1/webhooks/default/secret/rotate: a new secret; the previous one signs until previous_retires_at. */
    rotateSecret: async (o: CallOptions = {}): Promise<RotatedWebhookSecret> =>
      json<RotatedWebhookSecret>(await this.send({ op: OPERATIONS["webhooks.rotateSecret"], signal: o.signal })),
  };
}

/** GET /v1/plugins: the loaded plugins, in config order. */
export interface PluginList {
  plugins: PluginInfo[];
}

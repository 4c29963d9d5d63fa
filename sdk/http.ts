/**
 * One request with the SDK's policy: bearer auth (a key, a browser token, or a function that
 * returns a fresh token), an Idempotency-Key on billed calls that stays the same across retries,
 * and retries with exponential backoff on 429, 503, an in-flight idempotent repeat (409) and
 * network errors, waiting at least what Retry-After asks. Resending after a network error is done
 * only where it is safe (GETs, DELETEs, keyed or content-addressed POSTs).
 */
import { errorFrom, GmcnnError, networkError } from "./errors.ts";
import type { Operation } from "./operations.ts";

export type TokenSource = string | (() => string | Promise<string>);

export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  retries: number;
  /** First backoff, doubled each retry (default 500 ms), with +-25% jitter. */
  baseDelayMs: number;
  /** No wait longer than this; a Retry-After above it is not waited for (default 30 s). */
  maxDelayMs: number;
}

export interface RetryEvent {
  attempt: number;
  delayMs: number;
  status: number;
  /** Retry-After of the answer, seconds. */
  retryAfter?: number;
  error: GmcnnError;
}

export interface TransportOptions {
  baseUrl: string;
  auth: TokenSource;
  fetch?: typeof fetch;
  retry?: Partial<RetryPolicy>;
  /** Called before each retry (logging, tests). */
  onRetry?: (e: RetryEvent) => void;
  /** Extra headers on every request. */
  headers?: Record<string, string>;
}

export interface Call {
  op: Operation;
  params?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  /** A fresh body per attempt (a FormData or stream cannot be sent twice everywhere). */
  body?: () => BodyInit;
  contentType?: string;
  headers?: Record<string, string>;
  idempotencyKey?: string;
  signal?: AbortSignal;
}

const RETRY_STATUSES = new Set([429, 503]);

const newKey = (): string => crypto.randomUUID();

/** Retry-After wins when it is longer than the backoff; the result never exceeds maxDelayMs. */
export function retryDelay(attempt: number, retryAfter: number | undefined, p: RetryPolicy, random = Math.random): number {
  const backoff = p.baseDelayMs * 2 ** attempt * (0.75 + 0.5 * random());
  return Math.min(p.maxDelayMs, Math.max(backoff, (retryAfter ?? 0) * 1000));
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(signal.reason);
      },
      { once: true },
    );
  });

export class Transport {
  readonly baseUrl: string;
  private readonly o: TransportOptions;
  private readonly policy: RetryPolicy;

  constructor(o: TransportOptions) {
    this.o = o;
    this.baseUrl = o.baseUrl.replace(/\/+$/, "");
    this.policy = { retries: 3, baseDelayMs: 500, maxDelayMs: 30_000, ...o.retry };
  }

  url(path: string, params: Record<string, string> = {}, query: Call["query"] = {}): string {
    const p = path.replace(/\{(\w+)\}/g, (_, k: string) => {
      if (params[k] === undefined) throw new TypeError(`missing path parameter ${k}`);
      return encodeURIComponent(params[k]);
    });
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, String(v));
    const qs = q.toString();
    return `${this.baseUrl}${p}${qs ? `?${qs}` : ""}`;
  }

  private async token(): Promise<string> {
    return typeof this.o.auth === "function" ? await this.o.auth() : this.o.auth;
  }

  /** The response of a successful call (2xx or 304); anything else is thrown as a GmcnnError. */
  async send(call: Call): Promise<Response> {
    const { op } = call;
    const url = this.url(op.path, call.params, call.query);
    const key = op.billed ? (call.idempotencyKey ?? newKey()) : undefined;
    const doFetch = this.o.fetch ?? globalThis.fetch.bind(globalThis);
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {
        ...this.o.headers,
        ...call.headers,
        Authorization: `Bearer ${await this.token()}`,
      };
      if (key) headers["Idempotency-Key"] = key;
      if (call.contentType) headers["Content-Type"] = call.contentType;
      let error: GmcnnError;
      try {
        const res = await doFetch(url, { method: op.method.toUpperCase(), headers, body: call.body?.(), signal: call.signal });
        if (res.ok || res.status === 304) return res;
        error = await errorFrom(res);
        const retryable =
          RETRY_STATUSES.has(res.status) || (res.status === 409 && error.kind === "idempotency-in-flight" && key !== undefined);
        if (!retryable) throw error;
      } catch (e) {
        if (e instanceof GmcnnError) {
          if (e.status !== 0 && !(RETRY_STATUSES.has(e.status) || e.kind === "idempotency-in-flight")) throw e;
          error = e;
        } else if (call.signal?.aborted) throw e;
        else {
          error = networkError(e, url);
          // The request may have reached the server: only resend what cannot do anything twice.
          if (!op.idempotent) throw error;
        }
      }
      if (attempt >= this.policy.retries) throw error;
      if (error.retryAfter !== undefined && error.retryAfter * 1000 > this.policy.maxDelayMs) throw error;
      const delayMs = retryDelay(attempt, error.retryAfter, this.policy);
      this.o.onRetry?.({ attempt: attempt + 1, delayMs, status: error.status, retryAfter: error.retryAfter, error });
      await sleep(delayMs, call.signal);
    }
  }
}

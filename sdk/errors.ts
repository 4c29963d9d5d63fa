/** The one error the SDK throws: it carries the API's problem+json document (RFC 9457). */
import { PROBLEM_BASE, type ProblemDocument, type ProblemKind } from "../shared/problems.ts";

/** A problem kind of the API (shared/problems.ts), or `network` when no answer came back. */
export type ErrorKind = ProblemKind | "network" | "unknown";

export class GmcnnError extends Error {
  /** HTTP status; 0 when the request never got an answer. */
  readonly status: number;
  readonly kind: ErrorKind;
  /** The problem document as the API sent it (or as the SDK made it for a network error). */
  readonly problem: ProblemDocument;
  readonly requestId?: string;
  /** Seconds, from the Retry-After header (429, 503). */
  readonly retryAfter?: number;

  constructor(problem: ProblemDocument, o: { requestId?: string; retryAfter?: number; cause?: unknown } = {}) {
    super(
      problem.detail ? `${problem.title}: ${problem.detail}` : problem.title,
      o.cause === undefined ? {} : { cause: o.cause },
    );
    this.name = "GmcnnError";
    this.status = problem.status;
    this.problem = problem;
    this.kind = kindOf(problem.type);
    this.requestId = o.requestId ?? (typeof problem.request_id === "string" ? problem.request_id : undefined);
    this.retryAfter = o.retryAfter;
  }

  get type(): string {
    return this.problem.type;
  }
  get title(): string {
    return this.problem.title;
  }
  get detail(): string | undefined {
    return this.problem.detail;
  }
}

const kindOf = (type: string): ErrorKind =>
  type.startsWith(PROBLEM_BASE)
    ? (type.slice(PROBLEM_BASE.length) as ProblemKind)
    : type === NETWORK_TYPE
      ? "network"
      : "unknown";

export const NETWORK_TYPE = "urn:gmcnn:sdk:network-error";

export const networkError = (cause: unknown, url: string): GmcnnError =>
  new GmcnnError(
    { type: NETWORK_TYPE, title: "Network error", status: 0, detail: `${url}: ${(cause as Error)?.message ?? String(cause)}` },
    { cause },
  );

/** Seconds of a Retry-After header (delta-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (!header) return undefined;
  if (/^\s*\d+\s*$/.test(header)) return Number(header);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** A non-2xx response as a GmcnnError (problem+json when the API sent one, a generic problem otherwise). */
export async function errorFrom(res: Response): Promise<GmcnnError> {
  const requestId = res.headers.get("x-request-id") ?? undefined;
  const retryAfter = retryAfterSeconds(res.headers.get("retry-after"));
  let doc: ProblemDocument | undefined;
  const text = await res.text().catch(() => "");
  try {
    const parsed = JSON.parse(text) as ProblemDocument;
    if (parsed && typeof parsed.type === "string" && typeof parsed.title === "string") doc = parsed;
  } catch {
    /* not JSON: below */
  }
  doc ??= {
    type: "about:blank",
    title: res.statusText || `HTTP ${res.status}`,
    status: res.status,
    detail: text.slice(0, 500) || undefined,
  };
  return new GmcnnError({ ...doc, status: res.status }, { requestId, retryAfter });
}

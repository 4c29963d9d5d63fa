/**
 * Request body limits. A declared Content-Length over the limit is refused before a byte is
 * read; a chunked body is counted as it streams and refused once it passes the limit.
 *
 * The rest of a refused chunked body is read and dropped before the 413 goes out (up to
 * DRAIN_MAX_BYTES). Answering with the body half-read (what hono's bodyLimit does, and what a
 * reader.cancel() does too) leaves the connection inside workerd with an upload nobody reads:
 * under `wrangler dev` the next request then hung for about 60 s, every time, and large ones
 * ended in "503 Your worker restarted mid-request" or a reset (test/e2e/body-limits.test.ts).
 */
import type { MiddlewareHandler } from "hono";
import { Problem } from "../shared/problems.ts";
import type { AppEnv } from "./app-env.ts";
import { concatChunks } from "./bytes.ts";
import type { Bindings } from "./env.ts";
import { uploadLimits } from "./env.ts";

/** Multipart overhead allowed on top of the files. */
const FORM_SLACK = 64 * 1024;

/**
 * The most of a refused body that is drained: Cloudflare's own request size cap (100 MB on the
 * free and pro plans). Past it the stream is cancelled; the client is misbehaving by then.
 */
const DRAIN_MAX_BYTES = 100 * 1024 * 1024;

async function drain(reader: ReadableStreamDefaultReader<Uint8Array>, already: number): Promise<void> {
  let read = already;
  while (read <= DRAIN_MAX_BYTES) {
    const { done, value } = await reader.read();
    if (done) return;
    read += value.length;
  }
  await reader.cancel();
}

/** The whole body in memory (at most `max` bytes), or `problem(max)` thrown once it is known to be larger. */
export const limitBody =
  (maxOf: (env: Bindings) => number, problem: (max: number) => Problem): MiddlewareHandler<AppEnv> =>
  async (c, next) => {
    const req = c.req.raw;
    if (!req.body) return next();
    const max = maxOf(c.env);
    const declared = req.headers.get("content-length");
    if (declared !== null && !req.headers.has("transfer-encoding")) {
      // A known length: the runtime itself drops what is not read.
      if (Number(declared) > max) throw problem(max);
      return next();
    }
    const reader = req.body.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > max) {
        await drain(reader, size);
        throw problem(max);
      }
      parts.push(value);
    }
    c.req.raw = new Request(req, { body: concatChunks(parts, size) });
    return next();
  };

/** Body size limit of the upload routes: `files` files at the per-file limit plus the form around them. */
export const formBodyLimit = (files: 1 | 2): MiddlewareHandler<AppEnv> =>
  limitBody(
    (env) => files * uploadLimits(env).maxUploadBytes + FORM_SLACK,
    (max) =>
      new Problem(
        "payload-too-large",
        `the request body exceeds ${max} bytes (${files === 1 ? "one file" : "two files"} and the form)`,
        { limit_bytes: max },
      ),
  );

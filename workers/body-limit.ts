/** Body size limit of the upload routes: `files` files at the per-file limit plus the form around them. */
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { Problem } from "../shared/problems.ts";
import type { AppEnv } from "./app-env.ts";
import { uploadLimits } from "./env.ts";

/** Multipart overhead allowed on top of the files. */
const FORM_SLACK = 64 * 1024;

export const formBodyLimit =
  (files: 1 | 2): MiddlewareHandler<AppEnv> =>
  (c, next) => {
    const max = files * uploadLimits(c.env).maxUploadBytes + FORM_SLACK;
    return bodyLimit({
      maxSize: max,
      onError: () => {
        throw new Problem(
          "payload-too-large",
          `the request body exceeds ${max} bytes (${files === 1 ? "one file" : "two files"} and the form)`,
          { limit_bytes: max },
        );
      },
    })(c, next);
  };

/** The input servers of node/broken-inputs.ts (provided by node/global-setup.ts): bodies that break while read. */
import { inject } from "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    brokenInputsUrl: string;
  }
}

/** GET {url}/short-length, /closed-mid-body, /bad-chunked. */
export const brokenInputsUrl = (): string => inject("brokenInputsUrl");

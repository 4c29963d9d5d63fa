import { z } from "zod";
import { InpaintOptions, ModelManifest } from "../schemas/index.ts";

/** name -> JSON Schema (draft 2020-12) of each exported contract. */
export function jsonSchemas(): Record<string, unknown> {
  return {
    "model-manifest": z.toJSONSchema(ModelManifest, { io: "output" }),
    "inpaint-options": z.toJSONSchema(InpaintOptions, { io: "input" }),
  };
}

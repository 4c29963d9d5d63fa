/**
 * Post-processor `feather`: blends the fill into the original over `feather` pixels inside the
 * hole's edge (weight 0 at the edge, 1 at that depth). Opt in with feather=N.
 */
import { z } from "zod";
import { featherFill } from "../../imaging/composite.ts";
import { definePlugin } from "../contract.ts";

export const feather = () =>
  definePlugin({
    name: "feather",
    version: "1.0.0",
    kind: "post-processor",
    description: "Blends the fill into the original over N pixels inside the hole edge",
    options: {
      feather: z.number().int().min(0).max(64).default(0).describe("blend width inside the hole edge, in pixels (0: off)"),
    },
    setup: () => ({
      enabled: (o) => Number(o.feather) > 0,
      process: (fill, image, mask, o) => featherFill(fill.image, fill.region.box, image, mask, Number(o.feather)),
    }),
  });

/**
 * Post-processor `seam-blend`: gradient-domain (Poisson) blending of each fill, so colour and
 * brightness steps at the hole's border vanish while the fill's texture stays
 * (shared/imaging/seam.ts). Opt in with seam_blend=true.
 */
import { z } from "zod";
import { blendSeams } from "../../imaging/seam.ts";
import { definePlugin } from "../contract.ts";

export const seamBlend = () =>
  definePlugin({
    name: "seam-blend",
    version: "1.0.0",
    kind: "post-processor",
    description: "Poisson seam blending: the fill keeps its gradients and meets the original without a colour step",
    config: z.object({
      SEAM_BLEND_MAX_ITERATIONS: z.coerce.number().int().min(10).max(100_000).optional(),
    }),
    options: {
      seam_blend: z.boolean().default(false).describe("Poisson-blend each fill into its surroundings (removes colour seams)"),
    },
    setup: (config) => ({
      enabled: (o) => o.seam_blend === true,
      process: (fill, image, mask) => {
        blendSeams(fill.image, fill.region.box, image, mask, { maxIterations: config.SEAM_BLEND_MAX_ITERATIONS });
      },
    }),
  });

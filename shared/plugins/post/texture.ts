/**
 * Post-processor `texture`: guided patch synthesis in each hole (shared/imaging/texture.ts). The
 * model's fill gives the structure (its low-pass), patches of the kept pixels around the hole
 * give the texture (the high-pass), so a fill carries the grain of the photo instead of a smooth
 * blob. Seeded by the fill itself: the same request gives the same bytes. Its work is counted
 * from the mask before it runs: texture=on refuses a hole over the bound (422 mask-too-large),
 * texture=auto leaves such a fill as the model made it.
 */
import { z } from "zod";
import { planTexture, synthesizeTexture } from "../../imaging/texture.ts";
import { definePlugin, MAX_POST_WORK } from "../contract.ts";
import { checkPostWork } from "../post-work.ts";

export const TextureMode = z.enum(["off", "auto", "on"]);

export const texture = () =>
  definePlugin({
    name: "texture",
    version: "1.0.0",
    kind: "post-processor",
    description:
      "Guided patch synthesis (PatchMatch): the fill keeps the model's structure and takes its texture from the photo around the hole",
    options: {
      texture: TextureMode.default("off").describe(
        "synthesize texture in the hole from the photo around it: on (a hole over the work bound is refused), auto (such a hole is left as the model filled it), off",
      ),
    },
    config: z.object({
      // The synthesis' tuning (patch-synthesis.ts), for `npm run bench:post` and deployments: the
      // low-pass kept from the model (box radius, two passes), the guidance weight, the last reconstruction.
      TEXTURE_LOWPASS_RADIUS: z.coerce.number().int().min(1).max(32).optional(),
      TEXTURE_GUIDANCE: z.coerce.number().min(0).max(100).optional(),
      TEXTURE_RECONSTRUCTION: z.enum(["centre", "vote"]).optional(),
    }),
    setup: (config) => ({
      enabled: (o) => o.texture === "on" || o.texture === "auto",
      work: (region, mask, o) => {
        const plan = planTexture(region.box, mask);
        const counts = { hole_pixels: plan.holePixels, windows: plan.windows.length, comparisons: plan.comparisons };
        // auto over the bound does nothing, so it costs nothing.
        if (o.texture === "auto" && plan.work > MAX_POST_WORK) return { work: 0, counts: { ...counts, skipped: 1 } };
        return { work: plan.work, counts, instead: "texture=auto leaves such a hole as the model filled it" };
      },
      process: (fill, image, mask, o) => {
        const plan = planTexture(fill.region.box, mask);
        if (plan.work > MAX_POST_WORK) {
          if (o.texture === "auto") return;
          checkPostWork("texture", { work: plan.work, counts: { hole_pixels: plan.holePixels } }); // throws
        }
        const tuning = {
          lowpassRadius: config.TEXTURE_LOWPASS_RADIUS,
          guidance: config.TEXTURE_GUIDANCE,
          reconstruction: config.TEXTURE_RECONSTRUCTION,
        };
        synthesizeTexture(fill.image, fill.region.box, image, mask, tuning, plan);
      },
    }),
  });

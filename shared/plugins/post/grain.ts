/**
 * Post-processor `grain`: adds seeded noise to each fill, matched to the noise level of the kept
 * pixels around it (shared/imaging/grain.ts), so fills do not look plastic. Opt in with grain=1
 * (the strength: 1 matches the surroundings).
 */
import { z } from "zod";
import { matchGrain } from "../../imaging/grain.ts";
import { definePlugin } from "../contract.ts";

export const grain = () =>
  definePlugin({
    name: "grain",
    version: "1.0.0",
    kind: "post-processor",
    description: "Adds noise matched to the surrounding region's noise level (seeded: the same request, the same grain)",
    options: {
      grain: z.number().min(0).max(2).default(0).describe("grain strength: 1 matches the surroundings' noise level (0: off)"),
    },
    setup: () => ({
      enabled: (o) => Number(o.grain) > 0,
      process: (fill, image, mask, o) => {
        matchGrain(fill.image, fill.region.box, image, mask, Number(o.grain));
      },
    }),
  });

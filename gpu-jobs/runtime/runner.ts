/** Runs one working region through a model session: pad, infer, crop back, keep the alpha. */
import { fromModelOutput, toModelInput } from "../../shared/imaging/tensor.ts";
import type { Mask, RgbaImage } from "../../shared/imaging/types.ts";
import type { ModelSession } from "./session.ts";

export async function inpaintRegion(session: ModelSession, img: RgbaImage, mask: Mask): Promise<RgbaImage> {
  const t = toModelInput(img, mask);
  const out = await session.run(t.image, t.mask, t.width, t.height);
  const result = fromModelOutput(out, t.width, t.height, img.width, img.height);
  for (let i = 3; i < result.data.length; i += 4) result.data[i] = img.data[i];
  return result;
}

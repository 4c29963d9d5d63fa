/** Stage `encode`: the image in the requested format (default: the input's). */
import { encodeImage } from "../codecs.ts";
import type { Run } from "./run.ts";

export async function encode(run: Run): Promise<undefined> {
  run.bytes = await encodeImage(run.pixels as NonNullable<Run["pixels"]>, run.format, run.options.jpeg_quality);
  run.pixels = undefined;
  return undefined;
}

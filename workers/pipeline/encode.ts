/** Stage `encode`: the image through the encoder plugin of the output format (default: the input's). */
import type { Run } from "./run.ts";

export async function encode(run: Run): Promise<undefined> {
  const encoder = run.plugins.encoder(run.format);
  run.bytes = await encoder.hooks.encode(run.pixels as NonNullable<Run["pixels"]>, run.options);
  run.mime = encoder.mime;
  run.pixels = undefined;
  return undefined;
}

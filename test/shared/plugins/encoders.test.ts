/**
 * Contract suite of the output encoders: every encoder plugin gmcnn.config.ts lists must write
 * its own format, at the image's size, losslessly or within a stated error.
 */
import { describe, expect, it } from "vitest";
import { decodeImage } from "../../../gpu-jobs/codecs.ts";
import { sniffFormat } from "../../../shared/imaging/sniff.ts";
import { newImage } from "../../../shared/imaging/types.ts";
import { fixtureFor, options, pluginsOf, setUp } from "./setup.ts";

const FIXTURES: Record<string, { mime: string; lossless: boolean; alpha: boolean }> = {
  png: { mime: "image/png", lossless: true, alpha: true },
  jpeg: { mime: "image/jpeg", lossless: false, alpha: false },
  webp: { mime: "image/webp", lossless: false, alpha: true },
};

function picture(w: number, h: number) {
  const img = newImage(w, h);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      img.data.set([(x * 255) / w, (y * 255) / h, 128 + 50 * Math.sin(x / 6), x < w / 2 ? 255 : 180], (y * w + x) * 4);
  return img;
}

const encoders = pluginsOf("encoder");

describe.each(encoders.map((p) => [p.name, p] as const))("encoder %s: contract", (name, plugin) => {
  const f = fixtureFor(FIXTURES, name);

  it("names its format and media type", () => {
    expect(plugin.format).toBe(name);
    expect(plugin.mime).toBe(f.mime);
  });

  it("writes its format at the image's size; PNG exactly, lossy formats within 30 dB PSNR at quality 90", async () => {
    const hooks = await setUp(plugin);
    const img = picture(67, 41);
    const bytes = await hooks.encode(img, options({ jpeg_quality: 90 }));
    expect(sniffFormat(bytes)).toBe(plugin.format);
    const back = (await decodeImage(bytes)).image;
    expect([back.width, back.height]).toEqual([67, 41]);
    let se = 0;
    for (let i = 0; i < img.data.length; i++) if (i % 4 !== 3) se += (back.data[i] - img.data[i]) ** 2;
    const mse = se / ((img.data.length * 3) / 4);
    if (f.lossless) expect(mse).toBe(0);
    else expect(10 * Math.log10((255 * 255) / mse)).toBeGreaterThan(30);
    if (f.alpha && f.lossless) expect(back.data[3 + 4 * 60]).toBe(180);
  });
});

describe("the config's encoders", () => {
  it("are PNG, JPEG and WebP (AVIF: see docs/plugins.md)", () => {
    expect(encoders.map((e) => e.format).sort()).toEqual(["jpeg", "png", "webp"]);
  });
});

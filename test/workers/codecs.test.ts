import { describe, expect, it } from "vitest";
import { Problem } from "../../shared/problems.ts";
import { decodeUpload, encodeImage, inspectUpload } from "../../workers/codecs.ts";
import { uploadLimits } from "../../workers/env.ts";
import { photo, pngHeaderOnly } from "./helpers.ts";

const limits = uploadLimits({});

describe("codecs in workerd", () => {
  it("round-trips PNG exactly, alpha included", async () => {
    const img = photo(64, 48, (x) => (x < 32 ? 255 : 100));
    const png = await encodeImage(img, "png", 90);
    const h = inspectUpload(png, "image", limits, ["png", "jpeg"]);
    expect(h).toMatchObject({ format: "png", width: 64, height: 48 });
    const back = await decodeUpload(png, h, "image");
    expect(back.data).toEqual(img.data);
  });

  it("round-trips JPEG within JPEG tolerance", async () => {
    const img = photo(64, 48);
    const jpg = await encodeImage(img, "jpeg", 95);
    const h = inspectUpload(jpg, "image", limits, ["png", "jpeg"]);
    expect(h).toMatchObject({ format: "jpeg", width: 64, height: 48 });
    const back = await decodeUpload(jpg, h, "image");
    let worst = 0;
    for (let i = 0; i < img.data.length; i++) worst = Math.max(worst, Math.abs(img.data[i] - back.data[i]));
    expect(worst).toBeLessThan(40);
  });

  it("refuses a 50000x50000 PNG from its header alone", () => {
    // 33 bytes, signature and IHDR only: there is nothing to decode, so image-too-large (not
    // undecodable-image) shows the refusal came from the header, before any pixel buffer.
    const e = (() => {
      try {
        inspectUpload(pngHeaderOnly(50000, 50000), "image", limits, ["png", "jpeg"]);
      } catch (err) {
        return err;
      }
    })() as Problem;
    expect(e).toBeInstanceOf(Problem);
    expect(e.kind).toBe("image-too-large");
    expect(e.extensions).toMatchObject({ width: 50000, height: 50000 });
  });
});

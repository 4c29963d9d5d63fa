import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { listModels } from "../../gpu-jobs/runtime/models.ts";
import { jsonSchemas } from "../../shared/schema/json.ts";
import { InpaintOptions } from "../../shared/schemas/options.ts";

describe("JSON Schema export", () => {
  it.each(Object.entries(jsonSchemas()))("committed shared/schema/%s.schema.json matches the zod source", (name, schema) => {
    const committed = JSON.parse(readFileSync(new URL(`../../shared/schema/${name}.schema.json`, import.meta.url), "utf8"));
    expect(committed, "run `npm run schemas` and commit the result").toEqual(schema);
  });
});

describe("InpaintOptions", () => {
  it("fills the documented defaults", () => {
    expect(InpaintOptions.parse({})).toEqual({
      hd_strategy: "crop",
      hd_strategy_crop_trigger_size: 800,
      hd_strategy_crop_margin: 128,
      hd_strategy_resize_limit: 1280,
      dilate: 0,
      erode: 0,
      invert_mask: false,
      mask_resize: false,
      mask_source: "luminance",
      jpeg_quality: 90,
    });
  });

  it("refuses unknown keys, wrong enums and out-of-range numbers", () => {
    expect(InpaintOptions.safeParse({ bogus: 1 }).success).toBe(false);
    expect(InpaintOptions.safeParse({ hd_strategy: "tile" }).success).toBe(false);
    expect(InpaintOptions.safeParse({ dilate: -1 }).success).toBe(false);
    expect(InpaintOptions.safeParse({ jpeg_quality: 101 }).success).toBe(false);
    expect(InpaintOptions.safeParse({ output_format: "webp", invert_mask: true }).success).toBe(true);
  });
});

describe("shipped model manifest", () => {
  it("validates against the shared schema and names an existing file", () => {
    const models = listModels();
    expect(models.length).toBeGreaterThan(0);
    for (const m of models) {
      expect(m.manifest.io.channel_order).toBe("RGB");
      expect(readFileSync(m.path).byteLength).toBe(m.manifest.bytes);
    }
  });
});

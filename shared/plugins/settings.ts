/**
 * zod pieces for plugin configuration from settings (strings; an empty string counts as unset,
 * as wrangler and shells leave unset variables).
 */
import { z } from "zod";

const blank = (v: unknown) => (v === "" ? undefined : v);

/** An integer setting within [min, max], `fallback` when unset. */
export const intSetting = (min: number, max: number, fallback: number) =>
  z.preprocess(blank, z.coerce.number().int().min(min).max(max).default(fallback));

/** An optional string setting. */
export const textSetting = () => z.preprocess(blank, z.string().optional());

/** An http(s) URL setting, trailing slashes dropped. */
export const urlSetting = () =>
  z
    .string({ error: "missing: an http(s) URL" })
    .trim()
    .regex(/^https?:\/\/[^\s/]+/, "an http(s) URL")
    .transform((u) => u.replace(/\/+$/, ""));

/**
 * Output encoders: PNG (lossless, keeps alpha), JPEG and WebP (quality = jpeg_quality). Each
 * host brings the WASM codecs (@jsquash) itself, because a Worker must import WebAssembly as
 * bundled modules while Node compiles it from files; the plugin names the format, its media type
 * and its settings.
 */
import { definePlugin } from "./contract.ts";

const hostEncoder = (format: string, mime: string, description: string) => () =>
  definePlugin({
    name: format,
    version: "1.0.0",
    kind: "encoder",
    description,
    format,
    mime,
    setup: (_config, host) => {
      if (!host.codecs.formats.includes(format)) throw new Error(`this host has no ${format} codec`);
      return { encode: (img, o) => host.codecs.encode(img, format, { quality: o.jpeg_quality }) };
    },
  });

export const pngEncoder = hostEncoder("png", "image/png", "PNG, lossless; alpha kept");
export const jpegEncoder = hostEncoder("jpeg", "image/jpeg", "Baseline JPEG (MozJPEG), quality = jpeg_quality; alpha dropped");
export const webpEncoder = hostEncoder("webp", "image/webp", "Lossy WebP, quality = jpeg_quality");

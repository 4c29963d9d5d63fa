/**
 * The API's upload limits, checked when a picture is opened (not after painting), and the
 * downscale that brings a picture under them. The defaults are the API's (workers/env.ts
 * `uploadLimits`, docs/api.md "Limits"; test/browser/limits.test.ts keeps them equal); a
 * deployment that changes `MAX_UPLOAD_BYTES`, `MAX_MEGAPIXELS` or `MAX_SIDE` sets the widget's
 * `max-upload-bytes`, `max-megapixels`, `max-side` attributes to match. Pure: tested in Node.
 */

export interface Limits {
  maxUploadBytes: number;
  maxMegapixels: number;
  maxSide: number;
}

export const DEFAULT_LIMITS: Limits = { maxUploadBytes: 20 * 1024 * 1024, maxMegapixels: 8, maxSide: 12000 };

export interface LimitCheck {
  /** What is over: bytes, pixels (megapixels or a side), or nothing. */
  over: ("bytes" | "pixels")[];
  /** A sentence for the person: what the picture is and what the service takes. */
  message: string;
  /** The size that fits (same aspect), when the pixels are over; else the picture's own. */
  fit: { width: number; height: number };
}

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MB`;
const mp = (w: number, h: number) => (w * h) / 1e6;

/** The largest size with the picture's aspect under the megapixel and side limits. */
export function fitSize(width: number, height: number, l: Limits): { width: number; height: number } {
  const scale = Math.min(1, Math.sqrt((l.maxMegapixels * 1e6) / (width * height)), l.maxSide / Math.max(width, height));
  if (scale >= 1) return { width, height };
  // Floor, then make sure rounding did not land a pixel over.
  let w = Math.max(1, Math.floor(width * scale));
  let h = Math.max(1, Math.floor(height * scale));
  while (w * h > l.maxMegapixels * 1e6) {
    w -= 1;
    h = Math.max(1, Math.floor((w * height) / width));
  }
  return { width: w, height: h };
}

/** Checks a picture against the limits; `over` is empty when it fits. */
export function checkLimits(bytes: number, width: number, height: number, l: Limits): LimitCheck {
  const over: LimitCheck["over"] = [];
  const parts: string[] = [];
  if (width > l.maxSide || height > l.maxSide || mp(width, height) > l.maxMegapixels) {
    over.push("pixels");
    parts.push(
      `${width} × ${height} (${mp(width, height).toFixed(1)} MP); the service takes up to ${l.maxMegapixels} MP and ${l.maxSide} px a side`,
    );
  }
  if (bytes > l.maxUploadBytes) {
    over.push("bytes");
    parts.push(`${mib(bytes)}; the service takes files up to ${mib(l.maxUploadBytes)}`);
  }
  return { over, message: over.length ? `This picture is ${parts.join(", and ")}.` : "", fit: fitSize(width, height, l) };
}

/** Reads the limits from the element's attributes, falling back to the API's defaults. */
export function limitsFrom(attr: (name: string) => string | null): Limits {
  const n = (name: string, fallback: number) => {
    const v = Number(attr(name));
    return Number.isFinite(v) && v > 0 ? v : fallback;
  };
  return {
    maxUploadBytes: n("max-upload-bytes", DEFAULT_LIMITS.maxUploadBytes),
    maxMegapixels: n("max-megapixels", DEFAULT_LIMITS.maxMegapixels),
    maxSide: n("max-side", DEFAULT_LIMITS.maxSide),
  };
}

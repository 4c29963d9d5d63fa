/**
 * How many scans a JPEG has, from its segment structure alone (no entropy decoding): a walk over
 * the markers that skips each scan's entropy-coded data. A progressive JPEG's decoder passes over
 * every coefficient of the components a scan names once per scan, so a 73 KiB file of 2000x2000
 * pixels and 2,000 empty refinement scans costs seconds to decode while its header looks small
 * (issue 20, item 14). The edge refuses a JPEG whose scans x pixels are over its decode-work bound
 * before decoding it (workers/codecs.ts). Linear in the file's bytes; nothing is allocated.
 */

/** Scans the edge decodes at its largest image size (libjpeg's progressive scripts use up to 10; mozjpeg's optimised ones a few more). */
export const MAX_SCANS_AT_MAX_PIXELS = 24;

export interface JpegScans {
  /** SOS segments before EOI (or the end of the bytes). */
  scans: number;
  /** SOF2 or another progressive frame type (SOF6, SOF10, SOF14). */
  progressive: boolean;
}

/** Counts the SOS markers of a JPEG (the bytes begin with SOI); stops early once `stopAt` scans are seen. */
export function countJpegScans(b: Uint8Array, stopAt = Number.POSITIVE_INFINITY): JpegScans {
  let scans = 0;
  let progressive = false;
  let o = 2;
  const n = b.length;
  while (o + 1 < n) {
    if (b[o] !== 0xff) {
      o++; // garbage between segments: libjpeg skips it too (with a warning)
      continue;
    }
    const marker = b[o + 1];
    if (marker === 0xff) {
      o++; // fill byte
      continue;
    }
    if (marker === 0xd9) break; // EOI
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      o += 2; // no length: stuffed zero, TEM, RSTn, SOI
      continue;
    }
    if (o + 3 >= n) break;
    const len = (b[o + 2] << 8) | b[o + 3];
    if (len < 2) break;
    if (marker === 0xc2 || marker === 0xc6 || marker === 0xca || marker === 0xce) progressive = true;
    o += 2 + len;
    if (marker !== 0xda) continue;
    // SOS: its entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or an RSTn.
    scans++;
    if (scans >= stopAt) break;
    while (o + 1 < n) {
      if (b[o] === 0xff) {
        const m = b[o + 1];
        if (m !== 0x00 && m !== 0xff && !(m >= 0xd0 && m <= 0xd7)) break;
        o += m === 0xff ? 1 : 2;
      } else o++;
    }
  }
  return { scans, progressive };
}

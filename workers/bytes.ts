/** The chunks of a stream read to the end, as one array (`size` = their total length). */
export function concatChunks(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

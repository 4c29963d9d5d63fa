/**
 * The edge <-> GPU wire format for `POST /v1/infer`: binary, no base64, no float tensors.
 *
 *   body = u32 big-endian header length | UTF-8 JSON header | payload
 *   request payload  = RGB bytes (W*H*3) | mask bytes (W*H, 1 = hole)
 *   response payload = RGB bytes (W*H*3), the inpainted working region
 *
 * The region is at working resolution: the edge plans, crops and resizes; the GPU function pads
 * to the model's multiple, runs, crops back and returns the composited region.
 */
import { z } from "zod";

export const INFER_CONTENT_TYPE = "application/vnd.gmcnn.infer";
export const PROTOCOL_VERSION = 1;
/** Largest working region a GPU function accepts (pixels): 4096 x 4096. */
export const MAX_INFER_PIXELS = 4096 * 4096;

export const InferRequestHeader = z
  .object({
    v: z.literal(PROTOCOL_VERSION),
    width: z.number().int().min(1).max(8192),
    height: z.number().int().min(1).max(8192),
    model: z.string().optional().describe("name or name@version; default: the served model"),
    request_id: z.string().max(128).optional(),
  })
  .strict();
export type InferRequestHeader = z.infer<typeof InferRequestHeader>;

export const InferResponseHeader = z.object({
  v: z.literal(PROTOCOL_VERSION),
  width: z.number().int(),
  height: z.number().int(),
  model: z.object({ name: z.string(), version: z.string() }),
  provider: z.string().describe("ONNX Runtime execution provider that ran it"),
  timing: z.object({ queue_ms: z.number(), inference_ms: z.number(), total_ms: z.number() }),
});
export type InferResponseHeader = z.infer<typeof InferResponseHeader>;

export interface InferRequest {
  header: InferRequestHeader;
  rgb: Uint8Array;
  mask: Uint8Array;
}

export interface InferResponse {
  header: InferResponseHeader;
  rgb: Uint8Array;
}

function frame(header: unknown, ...parts: Uint8Array[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const total = 4 + json.length + parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  let o = 4 + json.length;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function unframe(buf: Uint8Array): { header: unknown; payload: Uint8Array } {
  if (buf.length < 4) throw new ProtocolError("body shorter than its length prefix");
  const n = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getUint32(0);
  if (n > 64 * 1024 || 4 + n > buf.length) throw new ProtocolError("header length out of range");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(4, 4 + n)));
  } catch {
    throw new ProtocolError("header is not JSON");
  }
  return { header, payload: buf.subarray(4 + n) };
}

export class ProtocolError extends Error {
  override name = "ProtocolError";
}

export function encodeInferRequest(r: InferRequest): Uint8Array {
  return frame(r.header, r.rgb, r.mask);
}

export function decodeInferRequest(buf: Uint8Array): InferRequest {
  const { header, payload } = unframe(buf);
  const h = InferRequestHeader.safeParse(header);
  if (!h.success) throw new ProtocolError(`bad header: ${h.error.issues.map((i) => i.message).join("; ")}`);
  const px = h.data.width * h.data.height;
  if (px > MAX_INFER_PIXELS) throw new ProtocolError(`region of ${px} pixels exceeds ${MAX_INFER_PIXELS}`);
  if (payload.length !== px * 4) throw new ProtocolError(`payload is ${payload.length} bytes, expected ${px * 4}`);
  return { header: h.data, rgb: payload.subarray(0, px * 3), mask: payload.subarray(px * 3) };
}

export function encodeInferResponse(r: InferResponse): Uint8Array {
  return frame(r.header, r.rgb);
}

export function decodeInferResponse(buf: Uint8Array): InferResponse {
  const { header, payload } = unframe(buf);
  const h = InferResponseHeader.safeParse(header);
  if (!h.success) throw new ProtocolError("bad response header");
  if (payload.length !== h.data.width * h.data.height * 3) throw new ProtocolError("response payload size mismatch");
  return { header: h.data, rgb: payload };
}

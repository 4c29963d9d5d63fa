import { describe, expect, it } from "vitest";
import {
  decodeInferRequest,
  decodeInferResponse,
  encodeInferRequest,
  encodeInferResponse,
  ProtocolError,
} from "../../shared/protocol.ts";

describe("edge <-> GPU protocol", () => {
  const w = 5;
  const h = 3;
  const rgb = Uint8Array.from({ length: w * h * 3 }, (_, i) => i % 256);
  const mask = Uint8Array.from({ length: w * h }, (_, i) => i % 2);

  it("round-trips a request and a response byte for byte", () => {
    const req = decodeInferRequest(encodeInferRequest({ header: { v: 1, width: w, height: h, request_id: "r1" }, rgb, mask }));
    expect(req.header).toEqual({ v: 1, width: w, height: h, request_id: "r1" });
    expect([...req.rgb]).toEqual([...rgb]);
    expect([...req.mask]).toEqual([...mask]);
    const header = {
      v: 1 as const,
      width: w,
      height: h,
      model: { name: "gmcnn", version: "1" },
      provider: "cpu",
      timing: { queue_ms: 1, inference_ms: 2, total_ms: 3 },
    };
    const res = decodeInferResponse(encodeInferResponse({ header, rgb }));
    expect(res.header).toEqual(header);
    expect([...res.rgb]).toEqual([...rgb]);
  });

  it("refuses payloads that disagree with the header, and junk", () => {
    const good = encodeInferRequest({ header: { v: 1, width: w, height: h }, rgb, mask });
    expect(() => decodeInferRequest(good.subarray(0, good.length - 1))).toThrow(ProtocolError);
    expect(() => decodeInferRequest(new Uint8Array([0, 0, 0, 2, 123, 125]))).toThrow(/expected/);
    expect(() => decodeInferRequest(new Uint8Array([0, 0]))).toThrow(ProtocolError);
    expect(() => decodeInferRequest(new Uint8Array([0, 0, 0, 9, 1, 2, 3]))).toThrow(/header length/);
    const bad = encodeInferRequest({ header: { v: 1, width: 0, height: h } as never, rgb, mask });
    expect(() => decodeInferRequest(bad)).toThrow(/bad header/);
  });
});

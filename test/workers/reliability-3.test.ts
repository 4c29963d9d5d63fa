/**
 * Issue #20 (reliability, round 3): the probe's requests that got through, each refused or
 * answered as it must be. No timed assertion: bounds are checked by what was counted and refused.
 */
import { describe, expect, it } from "vitest";
import { newImage } from "../../shared/imaging/types.ts";
import { encodeImage } from "../../workers/codecs.ts";
import { brokenInputsUrl } from "./broken-inputs.ts";
import { expectProblem, footprint } from "./footprint.ts";
import { boxMask, call, newAccount, photo, testEnv } from "./helpers.ts";

const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

describe("item 1: every mask source is bounded by its work", () => {
  const big = encodeImage(newImage(2000, 2000), "png", 90);
  // The probe's 39 KiB document: 1,000 RLE objects of 2000x2000, here all hole (4 G pixel writes).
  const rles = enc(Array.from({ length: 1000 }, () => ({ size: [2000, 2000], counts: [0, 4_000_000] })));

  it("1,000 full-size COCO RLE objects: 422 mask-too-complex before drawing, uncharged; the job is refused at submission", async () => {
    const a = await newAccount(20, "probe");
    const before = await footprint(a.id);
    const f = new FormData();
    f.append("image", new Blob([(await big) as Uint8Array<ArrayBuffer>]), "image.png");
    f.append("mask", new Blob([rles as Uint8Array<ArrayBuffer>]), "mask.json");
    const res = await call("/v1/inpaint", { method: "POST", body: f, headers: { ...a.headers, "Cache-Control": "no-store" } });
    const doc = await expectProblem(res, 422, "mask-too-complex");
    expect(doc).toMatchObject({ source: "coco-rle", objects: 1000, pixels: 4e9, max_work: 32e6 });
    expect(await footprint(a.id)).toEqual(before);

    const up = new FormData();
    up.append("file", new Blob([(await big) as Uint8Array<ArrayBuffer>]), "big.png");
    const stored = await call("/v1/uploads", { method: "POST", body: up, headers: a.headers });
    expect(stored.status).toBe(201);
    const { id } = (await stored.json()) as { id: string };
    const jf = new FormData();
    jf.append("image_id", id);
    jf.append("mask", new Blob([rles as Uint8Array<ArrayBuffer>]), "mask.json");
    const job = await call("/v1/jobs", { method: "POST", body: jf, headers: a.headers });
    await expectProblem(job, 422, "mask-too-complex");
    const after = await footprint(a.id);
    expect({ ...after, uploads: before.uploads }).toEqual(before);
  });
});

describe("item 11: a remote input whose body breaks while it is read", () => {
  const broken = brokenInputsUrl();
  const good = (async () => {
    const img = await encodeImage(photo(16, 16), "png", 90);
    const mask = await encodeImage(boxMask(16, 16, { x: 4, y: 4, width: 6, height: 6 }), "png", 90);
    for (const [name, bytes] of [
      ["r3-image.png", img],
      ["r3-mask.png", mask],
    ] as const) {
      const put = await fetch(`${testEnv.RECEIVER_URL}/files/${name}`, {
        method: "PUT",
        headers: { "Content-Type": "image/png" },
        body: bytes as Uint8Array<ArrayBuffer>,
      });
      expect(put.status).toBe(204);
    }
    return { image: `${testEnv.RECEIVER_URL}/files/r3-image.png`, mask: `${testEnv.RECEIVER_URL}/files/r3-mask.png` };
  })();

  for (const kind of ["short-length", "closed-mid-body", "bad-chunked"])
    it(`${kind}, as image_url and as mask_url: 422 fetch-failed naming the field, nothing charged or stored`, async () => {
      const urls = await good;
      const a = await newAccount(5, "inputs");
      const before = await footprint(a.id);
      const bad = `${broken}/${kind}`;
      for (const [field, body] of [
        ["image_url", { image_url: bad, mask_url: urls.mask }],
        ["mask_url", { image_url: urls.image, mask_url: bad }],
      ] as const) {
        const res = await call("/v1/jobs", {
          method: "POST",
          headers: { ...a.headers, "Content-Type": "application/json" },
          body: JSON.stringify(body),
        });
        const doc = await expectProblem(res, 422, "fetch-failed");
        expect(doc.field).toBe(field);
        expect(doc.detail).toMatch(new RegExp(`^${field}: the body broke after \\d+ bytes: .+`));
        expect(await footprint(a.id)).toEqual(before);
      }
    });

  it("the good inputs themselves make a job (the servers above are the only difference)", async () => {
    const urls = await good;
    const a = await newAccount(5, "inputs");
    const res = await call("/v1/jobs", {
      method: "POST",
      headers: { ...a.headers, "Content-Type": "application/json" },
      body: JSON.stringify({ image_url: urls.image, mask_url: urls.mask }),
    });
    expect(res.status).toBe(202);
  });
});

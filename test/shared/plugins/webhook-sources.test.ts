/**
 * Contract suite of the incoming webhook sources: every webhook-source plugin gmcnn.config.ts
 * lists must verify what its sender signs, refuse a changed body, another secret and missing
 * headers with 401 invalid-signature, give each delivery an id, and map its example payload to
 * a job the job schema accepts. Then what each mapping does with real-looking payloads.
 */
import { describe, expect, it } from "vitest";
import { CreateJobJson } from "../../../shared/schemas/jobs.ts";
import { fixtureFor, pluginsOf, setUp } from "./setup.ts";

/** A secret, another one, the headers verification needs, and whether it checks a timestamp. */
const FIXTURES: Record<string, { secret: string; other: string; required: string[]; stale?: boolean }> = {
  "standard-webhooks": {
    secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    other: "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXk=",
    required: ["webhook-id", "webhook-timestamp", "webhook-signature"],
    stale: true,
  },
  github: {
    secret: "a-long-shared-secret-for-github-style-hooks",
    other: "another-shared-secret-for-github-hooks",
    required: ["x-hub-signature-256", "x-github-delivery"],
  },
  cloudinary: {
    secret: "cloudinary-api-secret-abcdef",
    other: "cloudinary-api-secret-abcdeg",
    required: ["x-cld-signature", "x-cld-timestamp"],
    stale: true,
  },
};

const sources = pluginsOf("webhook-source");
const nowS = 1_767_000_000;
const o = { nowS, toleranceS: 300 };

describe.each(sources.map((p) => [p.name, p] as const))("webhook source %s: contract", (name, plugin) => {
  const f = fixtureFor(FIXTURES, name);

  it("verifies what its sender signs and gives the delivery an id", async () => {
    const hooks = await setUp(plugin);
    const payload = JSON.stringify(hooks.example);
    const headers = new Headers(await hooks.sign(f.secret, payload, { nowS, id: "delivery-1" }));
    const a = await hooks.verify({ headers, body: payload }, f.secret, o);
    const b = await hooks.verify({ headers, body: payload }, f.secret, o);
    expect(a.id).not.toBe("");
    expect(a.id).toBe(b.id); // the same delivery, the same id: the edge accepts it once
  });

  it("refuses a changed body, another secret and missing headers: 401 invalid-signature", async () => {
    const hooks = await setUp(plugin);
    const payload = JSON.stringify(hooks.example);
    const signed = await hooks.sign(f.secret, payload, { nowS });
    const headers = new Headers(signed);
    const refused = { kind: "invalid-signature", status: 401 };
    await expect(hooks.verify({ headers, body: `${payload} ` }, f.secret, o)).rejects.toMatchObject(refused);
    await expect(hooks.verify({ headers, body: payload }, f.other, o)).rejects.toMatchObject(refused);
    for (const h of f.required) {
      expect(Object.keys(signed)).toContain(h);
      const without = new Headers(signed);
      without.delete(h);
      await expect(hooks.verify({ headers: without, body: payload }, f.secret, o), h).rejects.toMatchObject(refused);
    }
  });

  it.runIf(!!f.stale)("refuses a signature older than the tolerance", async () => {
    const hooks = await setUp(plugin);
    const payload = JSON.stringify(hooks.example);
    const headers = new Headers(await hooks.sign(f.secret, payload, { nowS: nowS - 301 }));
    await expect(hooks.verify({ headers, body: payload }, f.secret, o)).rejects.toMatchObject({ kind: "invalid-signature" });
  });

  it("maps its example payload to a job the job schema accepts", async () => {
    const hooks = await setUp(plugin);
    const headers = new Headers(await hooks.sign(f.secret, JSON.stringify(hooks.example), { nowS }));
    const mapped = hooks.toJob(hooks.example, { headers, body: JSON.stringify(hooks.example) });
    expect("job" in mapped).toBe(true);
    const job = (mapped as { job: Record<string, unknown> }).job;
    expect(CreateJobJson.safeParse(JSON.parse(JSON.stringify(job))).success).toBe(true);
    expect(typeof job.image_url).toBe("string");
  });

  it("a payload that is not its kind of event is a 400, not a crash", async () => {
    const hooks = await setUp(plugin);
    const headers = new Headers();
    expect(() => hooks.toJob({ unrelated: true }, { headers, body: "{}" })).toThrow(expect.objectContaining({ status: 400 }));
  });
});

describe("the config's webhook sources", () => {
  it("are Standard Webhooks and two more schemes", () => {
    expect(sources.map((s) => s.name)).toEqual(expect.arrayContaining(["standard-webhooks", "github", "cloudinary"]));
  });
});

describe("mappings", () => {
  const hooksOf = async (name: string) => setUp(sources.filter((s) => s.name === name)[0]);

  it("github: a ping is acknowledged and ignored; client_payload carries the job", async () => {
    const gh = await hooksOf("github");
    expect(
      gh.toJob({ zen: "Keep it logically awesome." }, { headers: new Headers({ "x-github-event": "ping" }), body: "" }),
    ).toEqual({
      ignore: "ping",
    });
    const mapped = gh.toJob(
      {
        event_type: "inpaint",
        client_payload: {
          image_url: "https://x.example/a.png",
          mask_url: "https://x.example/m.png",
          options: { grain: 1 },
          callback_url: "https://ci.example/done",
        },
      },
      { headers: new Headers({ "x-github-event": "repository_dispatch" }), body: "" },
    );
    expect(mapped).toEqual({
      job: {
        grain: 1,
        image_url: "https://x.example/a.png",
        mask_url: "https://x.example/m.png",
        mask_shapes: undefined,
        webhook: "https://ci.example/done",
      },
    });
  });

  it("github: the signature is GitHub's (HMAC-SHA256 hex of the body)", async () => {
    const gh = await hooksOf("github");
    // GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
    const headers = new Headers({
      "x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
      "x-github-delivery": "d1",
    });
    await expect(gh.verify({ headers, body: "Hello, World!" }, "It's a Secret to Everybody", o)).resolves.toEqual({
      id: "d1",
      signed: "Hello, World!",
    });
  });

  it("cloudinary: an upload whose context names a mask is a job on its secure_url; others are ignored", async () => {
    const cl = await hooksOf("cloudinary");
    const h = { headers: new Headers(), body: "" };
    const upload = {
      notification_type: "upload",
      resource_type: "image",
      secure_url: "https://res.cloudinary.com/demo/image/upload/v1/p.jpg",
      context: {
        custom: {
          gmcnn_mask_shapes: '{"shapes":[{"type":"rect","x":1,"y":1,"width":5,"height":5}]}',
          gmcnn_options: '{"dilate":3}',
        },
      },
    };
    expect(cl.toJob(upload, h)).toEqual({
      job: {
        dilate: 3,
        image_url: upload.secure_url,
        mask_url: undefined,
        mask_shapes: { shapes: [{ type: "rect", x: 1, y: 1, width: 5, height: 5 }] },
        webhook: undefined,
      },
    });
    expect(cl.toJob({ ...upload, context: undefined }, h)).toMatchObject({ ignore: expect.stringMatching(/gmcnn_mask_url/) });
    expect(cl.toJob({ notification_type: "delete" }, h)).toEqual({ ignore: "notification_type delete" });
  });
});

/**
 * Phase 1 of `npm run reliability`: bad inputs on every route of /openapi.json (the admin API
 * included), generated at run time (seeded) plus the committed fixtures in ./fixtures. Every
 * case is garbage by construction; each must answer a 4xx application/problem+json whose status,
 * type and title agree, none a 5xx or a 2xx, and a fresh account's ledger, jobs, idempotency
 * keys and R2 objects (and the deployment's) must not change. /healthz is asked after every case.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { encodeImage } from "../../gpu-jobs/codecs.ts";
import { newImage, type RgbaImage } from "../../shared/imaging/types.ts";
import { ROOT } from "../stack.ts";
import { type Answer, d1File, footprint, json, newAccount, problemAgrees, r2Keys, type Send, send, sqlite } from "./http.ts";

export interface BadInputsResult {
  cases: number;
  routes: number;
  routesCovered: number;
  uncovered: string[];
  problems4xx: number;
  disagreeing: string[];
  status5xx: string[];
  status2xx: string[];
  other: string[];
  creditsCharged: number;
  jobsCreated: number;
  objectsStored: number;
  idempotencyKeys: number;
  healthzAnswered: number;
  healthzMaxMs: number;
  byStatus: Record<string, number>;
  /**
   * Jobs accepted (202) for inputs only a run can check (mask coverage after dilate needs the
   * decoded mask, an unknown model needs the GPU): each must end `failed` with a 4xx problem,
   * uncharged. They are the jobs and R2 objects the phase creates.
   */
  lateFailures: { name: string; status: string; error: string; charged: number }[];
}

interface Case {
  name: string;
  /** The documented route it targets, "METHOD /path/{param}"; null for paths no route has. */
  route: string | null;
  path: string;
  o: Send;
}

const fixture = (f: string) => readFileSync(join(ROOT, "scripts/reliability/fixtures", f));

function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function photo(w: number, h: number): RgbaImage {
  const img = newImage(w, h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) img.data.set([(x * 255) / w, (y * 255) / h, 90, 255], (y * w + x) * 4);
  return img;
}

function maskImg(w: number, h: number, box?: { x: number; y: number; w: number; h: number }): RgbaImage {
  const m = newImage(w, h);
  for (let i = 0; i < w * h; i++) m.data[i * 4 + 3] = 255;
  if (box)
    for (let y = box.y; y < box.y + box.h; y++)
      for (let x = box.x; x < box.x + box.w; x++) m.data.fill(255, (y * w + x) * 4, (y * w + x) * 4 + 3);
  return m;
}

type Field = [string, string | Uint8Array | Buffer];
function multipart(fields: Field[]): FormData {
  const f = new FormData();
  for (const [k, v] of fields)
    if (typeof v === "string") f.append(k, v);
    else f.append(k, new Blob([new Uint8Array(v)]), `${k}.bin`);
  return f;
}

/** Every bad request, for the routes /openapi.json lists (and a few it does not). */
async function buildCases(seed: number, auth: Record<string, string>, adminAuth: Record<string, string>): Promise<Case[]> {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const W = 48;
  const H = 36;
  const png = await encodeImage(photo(W, H), "png");
  const mask = await encodeImage(maskImg(W, H, { x: 10, y: 8, w: 9, h: 7 }), "png");
  const otherSize = await encodeImage(maskImg(W + 4, H), "png");
  const fullMask = await encodeImage(maskImg(W, H, { x: 0, y: 0, w: W, h: H }), "png");
  const jpeg = await encodeImage(photo(W, H), "jpeg", 90);
  const big = await encodeImage(newImage(2000, 2000), "png");
  const truncatedPng = png.subarray(0, Math.floor(png.length / 2));
  const cases: Case[] = [];
  const add = (route: string | null, name: string, path: string, o: Send) => cases.push({ route, name, path, o });
  const form = (fields: Field[], headers = auth): Send => ({ body: multipart(fields), headers });
  const jsonBody = (v: unknown, headers = auth): Send => ({
    body: typeof v === "string" ? v : JSON.stringify(v),
    headers: { ...headers, "content-type": "application/json" },
  });
  const rect = (x: number) => JSON.stringify({ shapes: [{ type: "rect", x, y: 4, width: 5, height: 5 }] });

  // --- POST /v1/inpaint and POST /v1/jobs: the same form, the probe's requests and generated ones.
  const good: Field[] = [
    ["image", png],
    ["mask", mask],
  ];
  const coords = () => Array.from({ length: 10_000 }, () => [random() * 2000, random() * 2000]);
  const formCases: [string, Field[]][] = [
    ["-F __proto__=x beside a valid image and mask (probe)", [...good, ["__proto__", "x"]]],
    ["-F constructor=x", [...good, ["constructor", "x"]]],
    ["-F prototype=x", [...good, ["prototype", "x"]]],
    ["-F toString=1", [...good, ["toString", "1"]]],
    [
      "truncated baseline JPEG + FF D9 (probe, fixture)",
      [
        ["image", fixture("truncated-baseline.jpg")],
        ["mask_shapes", rect(10)],
      ],
    ],
    [
      "50000x50000 PNG bomb (fixture)",
      [
        ["image", fixture("bomb-50000x50000.png")],
        ["mask_shapes", rect(10)],
      ],
    ],
    [
      "GIF image (fixture)",
      [
        ["image", fixture("pixel.gif")],
        ["mask", mask],
      ],
    ],
    [
      "truncated PNG",
      [
        ["image", truncatedPng],
        ["mask", mask],
      ],
    ],
    [
      "random bytes as the image",
      [
        ["image", Buffer.from(Array.from({ length: 300 }, () => Math.floor(random() * 256)))],
        ["mask", mask],
      ],
    ],
    [
      "JPEG as the mask",
      [
        ["image", png],
        ["mask", jpeg],
      ],
    ],
    [
      "mask of another size",
      [
        ["image", png],
        ["mask", otherSize],
      ],
    ],
    [
      "mask covering everything",
      [
        ["image", png],
        ["mask", fullMask],
      ],
    ],
    ["no mask", [["image", png]]],
    ["no image", [["mask", mask]]],
    ["empty form", []],
    ["image and image_id", [...good, ["image_id", "a".repeat(64)]]],
    ["mask and mask_shapes", [...good, ["mask_shapes", rect(3)]]],
    [
      "unknown image_id",
      [
        ["image_id", "b".repeat(64)],
        ["mask_shapes", rect(3)],
      ],
    ],
    [
      "malformed image_id",
      [
        ["image_id", "../../etc/passwd"],
        ["mask_shapes", rect(3)],
      ],
    ],
    [
      "image as a text field",
      [
        ["image", "not a file"],
        ["mask", mask],
      ],
    ],
    ["an option as a file", [...good, ["dilate", Buffer.from("3")]]],
    [
      "two images",
      [
        ["image", png],
        ["image", png],
        ["mask", mask],
      ],
    ],
    ["dilate given twice", [...good, ["dilate", "1"], ["dilate", "2"]]],
    [
      "mask_shapes not JSON",
      [
        ["image", png],
        ["mask_shapes", "{shapes:"],
      ],
    ],
    [
      "mask_shapes wrong schema",
      [
        ["image", png],
        ["mask_shapes", '{"shapes":[{"type":"circle","r":3}]}'],
      ],
    ],
    [
      "mask_shapes with a NaN",
      [
        ["image", png],
        ["mask_shapes", '{"shapes":[{"type":"rect","x":NaN,"y":1,"width":2,"height":2}]}'],
      ],
    ],
    [
      "mask_shapes polygon of 2 points",
      [
        ["image", png],
        ["mask_shapes", '{"shapes":[{"type":"polygon","points":[[1,1],[2,2]]}]}'],
      ],
    ],
    [
      "mask_shapes extra member",
      [
        ["image", png],
        ["mask_shapes", '{"shapes":[],"evil":1}'],
      ],
    ],
    [
      "2 strokes x 10,000 points on a 2000x2000 image (probe)",
      [
        ["image", big],
        ["mask_shapes", JSON.stringify({ shapes: [0, 1].map(() => ({ type: "stroke", width: 30, points: coords() })) })],
      ],
    ],
    [
      "5 zero-area polygons x 10,000 points (probe)",
      [
        ["image", big],
        [
          "mask_shapes",
          JSON.stringify({
            shapes: Array.from({ length: 5 }, () => ({
              type: "polygon",
              points: Array.from({ length: 10_000 }, (_, i) => [i % 2 ? 10 : 20, i % 2 ? 0 : 2000]),
            })),
          }),
        ],
      ],
    ],
    [
      "500 full-image rectangles",
      [
        ["image", big],
        [
          "mask_shapes",
          JSON.stringify({
            shapes: Array.from({ length: 500 }, () => ({ type: "rect", x: 0, y: 0, width: 2000, height: 2000 })),
          }),
        ],
      ],
    ],
  ];
  const badOptions: [string, string][] = [
    ["dilate", "-3"],
    ["dilate", "1e9"],
    ["erode", "abc"],
    ["hd_strategy", "magic"],
    ["output_format", "gif"],
    ["jpeg_quality", "0"],
    ["jpeg_quality", "101"],
    ["mask_source", "blue"],
    ["invert_mask", "perhaps"],
    ["model", "no-such-model@9"],
    ["sharpen", "true"],
    ["", "x"],
    ["dilate", ""],
    ["feather", "-1"],
    ["crop_margin", "NaN"],
  ];
  for (const [k, v] of badOptions) formCases.push([`option ${k || "(empty name)"}=${v || "(empty)"}`, [...good, [k, v]]]);
  for (let i = 0; i < 8; i++) {
    // Random unknown field names (letters, unicode, punctuation).
    const name = Array.from({ length: 1 + Math.floor(random() * 12) }, () => pick([..."abcXYZ_-.$é漢🙂[]{}\"'<>"])).join("");
    formCases.push([`unknown field ${JSON.stringify(name)}`, [...good, [name, pick(["1", "", "x".repeat(100)])]]]);
  }
  for (const [name, fields] of formCases) {
    add("POST /v1/inpaint", `inpaint: ${name}`, "/v1/inpaint", form(fields));
    add("POST /v1/jobs", `jobs: ${name}`, "/v1/jobs", form(fields));
  }
  add(
    "POST /v1/jobs",
    "jobs: two webhook fields (probe)",
    "/v1/jobs",
    form([...good, ["webhook", "https://a.example/h"], ["webhook", "https://b.example/h"]]),
  );
  add(
    "POST /v1/jobs",
    "jobs: two webhook_events_filter fields",
    "/v1/jobs",
    form([
      ...good,
      ["webhook", "https://a.example/h"],
      ["webhook_events_filter", "completed"],
      ["webhook_events_filter", "started"],
    ]),
  );
  add(
    "POST /v1/jobs",
    "jobs: webhook_events_filter=everything",
    "/v1/jobs",
    form([...good, ["webhook", "https://a.example/h"], ["webhook_events_filter", "everything"]]),
  );
  for (const hook of [
    "ftp://a.example/h",
    "not a url",
    "https://user:pw@a.example/h",
    "http://10.0.0.1/h",
    "https://169.254.169.254/latest",
  ])
    add("POST /v1/jobs", `jobs: webhook ${hook}`, "/v1/jobs", form([...good, ["webhook", hook]]));
  const jsonJobs: [string, unknown][] = [
    ["JSON not an object", "[1,2]"],
    ["JSON malformed", '{"image_url":'],
    ["JSON __proto__ member", '{"__proto__":{"admin":true},"image_url":"https://a.example/i.png","mask_shapes":{"shapes":[]}}'],
    ["JSON no image", { mask_shapes: { shapes: [] } }],
    [
      "JSON image_url and image_id",
      { image_url: "https://a.example/i.png", image_id: "a".repeat(64), mask_shapes: { shapes: [] } },
    ],
    ["JSON image_url file:", { image_url: "file:///etc/passwd", mask_shapes: { shapes: [] } }],
    ["JSON image_url loopback", { image_url: "https://127.0.0.1/i.png", mask_shapes: { shapes: [] } }],
    ["JSON mask_url metadata", { image_id: "c".repeat(64), mask_url: "https://169.254.169.254/m.png" }],
    ["JSON unknown option", { image_id: "c".repeat(64), mask_shapes: { shapes: [] }, sharpen: true }],
    ["JSON dilate string", { image_id: "c".repeat(64), mask_shapes: { shapes: [] }, dilate: "3" }],
    ["JSON huge number", { image_id: "c".repeat(64), mask_shapes: { shapes: [] }, dilate: 1e308 }],
  ];
  for (const [name, v] of jsonJobs) add("POST /v1/jobs", `jobs: ${name}`, "/v1/jobs", jsonBody(v));
  for (const route of ["POST /v1/inpaint", "POST /v1/jobs"]) {
    const path = route.slice(5);
    add(route, `${path}: text/plain body`, path, { body: "image=1", headers: { ...auth, "content-type": "text/plain" } });
    add(route, `${path}: multipart without a boundary`, path, {
      body: "xx",
      headers: { ...auth, "content-type": "multipart/form-data" },
    });
    add(route, `${path}: multipart garbage`, path, {
      body: "--b\r\nContent-Disposition: form-data\r\n\r\n",
      headers: { ...auth, "content-type": "multipart/form-data; boundary=b" },
    });
    add(route, `${path}: Idempotency-Key with a space`, path, { ...form(good), headers: { ...auth, "idempotency-key": "a b" } });
    add(route, `${path}: Idempotency-Key of 300 characters`, path, {
      ...form(good),
      headers: { ...auth, "idempotency-key": "k".repeat(300) },
    });
    add(route, `${path}: 41 MiB chunked (probe)`, path, {
      body: Buffer.alloc(41 * 2 ** 20, 1),
      chunked: true,
      headers: { ...auth, "content-type": "multipart/form-data; boundary=b" },
    });
    add(route, `${path}: 41 MiB with a Content-Length`, path, {
      body: Buffer.alloc(41 * 2 ** 20, 1),
      headers: { ...auth, "content-type": "multipart/form-data; boundary=b" },
    });
  }

  // --- POST /v1/uploads
  const uploads: [string, Send][] = [
    ["no file", form([])],
    ["file as text", form([["file", "hello"]])],
    [
      "two files",
      form([
        ["file", png],
        ["file", png],
      ]),
    ],
    ["GIF (fixture)", form([["file", fixture("pixel.gif")]])],
    ["bomb (fixture)", form([["file", fixture("bomb-50000x50000.png")]])],
    ["truncated PNG", form([["file", truncatedPng]])],
    ["empty file", form([["file", Buffer.alloc(0)]])],
    ["JSON body", jsonBody({ file: "aGVsbG8=" })],
    [
      "43 MiB chunked (probe)",
      {
        body: Buffer.alloc(43 * 2 ** 20, 2),
        chunked: true,
        headers: { ...auth, "content-type": "multipart/form-data; boundary=b" },
      },
    ],
  ];
  for (const [name, o] of uploads) add("POST /v1/uploads", `uploads: ${name}`, "/v1/uploads", o);
  for (const id of ["0".repeat(64), "nope", "A".repeat(64), "%2e%2e%2f%2e%2e", "0".repeat(65)])
    add("DELETE /v1/uploads/{id}", `DELETE upload ${id.slice(0, 20)}`, `/v1/uploads/${id}`, { method: "DELETE", headers: auth });

  // --- jobs by id, unknown or malformed ids, and bad queries.
  for (const id of ["job_doesnotexist", "..%2F..%2Fadmin", "x".repeat(300), "%00", "🙂"]) {
    add("GET /v1/jobs/{id}", `GET job ${id.slice(0, 16)}`, `/v1/jobs/${id}`, { headers: auth });
    add("POST /v1/jobs/{id}/cancel", `cancel job ${id.slice(0, 16)}`, `/v1/jobs/${id}/cancel`, { method: "POST", headers: auth });
    add("GET /v1/jobs/{id}/deliveries", `deliveries of ${id.slice(0, 16)}`, `/v1/jobs/${id}/deliveries`, { headers: auth });
    add("GET /v1/jobs/{id}/result", `result of ${id.slice(0, 16)}`, `/v1/jobs/${id}/result`, { headers: auth });
  }
  add(
    "GET /v1/jobs/{id}/result",
    "result with a forged signature",
    "/v1/jobs/job_x/result?expires=9999999999&signature=AAAA",
    {},
  );
  add("GET /v1/jobs/{id}/result", "result with an expired signature", "/v1/jobs/job_x/result?expires=1&signature=AAAA", {});
  for (const q of ["limit=0", "limit=101", "limit=abc", "cursor=xyz", "limit=-5", "cursor=1e99x"])
    add("GET /v1/jobs", `list jobs ?${q}`, `/v1/jobs?${q}`, { headers: auth });
  for (const q of ["limit=0", "limit=500", "cursor=abc", "limit=1.5"])
    add("GET /v1/usage", `usage ?${q}`, `/v1/usage?${q}`, { headers: auth });

  // --- hooks (unauthenticated: signatures), tokens.
  const hookHeaders = {
    "content-type": "application/json",
    "webhook-id": "msg_1",
    "webhook-timestamp": String(Math.floor(Date.now() / 1000)),
  };
  add("POST /v1/hooks/{integration}", "hook: no signature", "/v1/hooks/none", {
    body: "{}",
    headers: { "content-type": "application/json" },
  });
  add("POST /v1/hooks/{integration}", "hook: bad signature", "/v1/hooks/none", {
    body: "{}",
    headers: { ...hookHeaders, "webhook-signature": "v1,AAAA" },
  });
  add("POST /v1/hooks/{integration}", "hook: 100 KiB chunked (probe)", "/v1/hooks/none", {
    body: Buffer.alloc(100 * 1024, 0x20),
    chunked: true,
    headers: { "content-type": "application/json" },
  });
  add("POST /v1/hooks/{integration}", "hook: 200 KiB with a Content-Length", "/v1/hooks/none", {
    body: Buffer.alloc(200 * 1024, 0x20),
    headers: { "content-type": "application/json" },
  });
  add("POST /v1/tokens", "tokens: malformed JSON", "/v1/tokens", jsonBody("{"));
  add("POST /v1/tokens", "tokens: unknown scope", "/v1/tokens", jsonBody({ scopes: ["root"] }));
  add("POST /v1/tokens", "tokens: ttl of a year", "/v1/tokens", jsonBody({ ttl_seconds: 31_536_000 }));
  add("POST /v1/tokens", "tokens: no key", "/v1/tokens", jsonBody({}, {}));

  // --- the admin API.
  const adminJson = (v: unknown, headers = adminAuth) => jsonBody(v, headers);
  const accounts: [string, Send][] = [
    ["malformed JSON", adminJson("{")],
    ["name is a number", adminJson({ name: 5, credits: 1 })],
    ["negative credits", adminJson({ name: "x", credits: -1 })],
    ["credits 1e20", adminJson({ name: "x", credits: 1e20 })],
    ["rate_limit 0", adminJson({ name: "x", rate_limit: 0 })],
    ["unknown member", adminJson({ name: "x", is_admin: true })],
    ["customer key as admin token", adminJson({ name: "x" }, auth)],
    ["no token", adminJson({ name: "x" }, {})],
  ];
  for (const [name, o] of accounts) add("POST /v1/admin/accounts", `admin accounts: ${name}`, "/v1/admin/accounts", o);
  for (const id of ["acct_nope", "..", "x".repeat(200)]) {
    add("GET /v1/admin/accounts/{id}", `admin GET ${id.slice(0, 12)}`, `/v1/admin/accounts/${id}`, { headers: adminAuth });
    add("POST /v1/admin/accounts/{id}/keys", `admin new key for ${id.slice(0, 12)}`, `/v1/admin/accounts/${id}/keys`, {
      method: "POST",
      headers: adminAuth,
    });
    add(
      "POST /v1/admin/accounts/{id}/credits",
      `admin credits for ${id.slice(0, 12)}`,
      `/v1/admin/accounts/${id}/credits`,
      adminJson({ credits: 5 }),
    );
    add("GET /v1/admin/accounts/{id}/ledger", `admin ledger of ${id.slice(0, 12)}`, `/v1/admin/accounts/${id}/ledger`, {
      headers: adminAuth,
    });
    add(
      "DELETE /v1/admin/accounts/{id}/keys/{key_id}",
      `admin revoke on ${id.slice(0, 12)}`,
      `/v1/admin/accounts/${id}/keys/key_nope`,
      { method: "DELETE", headers: adminAuth },
    );
  }
  add(
    "POST /v1/admin/integrations",
    "admin integration for an unknown account",
    "/v1/admin/integrations",
    adminJson({ name: "x", account_id: "acct_nope" }),
  );
  add("POST /v1/admin/integrations", "admin integration malformed", "/v1/admin/integrations", adminJson({ name: 7 }));
  add(
    "POST /v1/admin/integrations",
    "admin integration without the token",
    "/v1/admin/integrations",
    adminJson({ name: "x", account_id: "a" }, auth),
  );

  // --- every route: without a key, with a wrong key, with a key that is not a bearer token.
  return cases;
}

/** Authentication cases for every documented route that needs a key or the admin token. */
function authCases(doc: OpenApi, adminAuth: Record<string, string>): Case[] {
  const out: Case[] = [];
  for (const [path, ops] of Object.entries(doc.paths))
    for (const [method, op] of Object.entries(ops)) {
      const security = (op as { security?: Record<string, unknown>[] }).security ?? [];
      if (security.length === 0) continue;
      const route = `${method.toUpperCase()} ${path}`;
      const concrete = path.replace(/\{[^}]+\}/g, "x1");
      const o = (headers: Record<string, string>): Send => ({
        method: method.toUpperCase(),
        headers: { ...headers, "content-type": "application/json" },
        body: method === "get" || method === "delete" ? undefined : "{}",
      });
      out.push({ route, name: `${route}: no key`, path: concrete, o: o({}) });
      out.push({
        route,
        name: `${route}: unknown key`,
        path: concrete,
        o: o({ authorization: "Bearer gmk_0000000000000000000000000000000000000000" }),
      });
      out.push({ route, name: `${route}: Basic auth`, path: concrete, o: o({ authorization: "Basic dXNlcjpwYXNz" }) });
      if (path.startsWith("/v1/admin"))
        out.push({
          route,
          name: `${route}: admin token with a typo`,
          path: concrete,
          o: o({ authorization: `${adminAuth.authorization}x` }),
        });
    }
  return out;
}

/** For every documented path: a method it does not have (404/405), and paths no route has. */
function methodCases(doc: OpenApi, auth: Record<string, string>): Case[] {
  const out: Case[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    const have = Object.keys(ops);
    const wrong = ["put", "patch"].find((m) => !have.includes(m)) as string;
    const concrete = path.replace(/\{[^}]+\}/g, "x1");
    for (const m of have)
      out.push({
        route: `${m.toUpperCase()} ${path}`,
        name: `${path}: ${wrong.toUpperCase()}`,
        path: concrete,
        o: { method: wrong.toUpperCase(), headers: auth, body: "{}" },
      });
  }
  for (const p of ["/v2/inpaint", "/v1/admin", "/v1/inpaint/extra", "/%2e%2e/etc/passwd", "/.env", "/v1/uploads/"])
    out.push({ route: null, name: `unknown path ${p}`, path: p, o: { headers: auth } });
  return out;
}

interface OpenApi {
  paths: Record<string, Record<string, unknown>>;
}

export async function runBadInputs(o: {
  edge: string;
  adminToken: string;
  persist: string;
  seed: number;
  log: (s: string) => void;
}): Promise<BadInputsResult> {
  const doc = json(await send(`${o.edge}/openapi.json`)) as unknown as OpenApi;
  const account = await newAccount(o.edge, o.adminToken, "reliability-bad-inputs", 50);
  const adminAuth = { authorization: `Bearer ${o.adminToken}` };
  const cases = [
    ...(await buildCases(o.seed, account.auth, adminAuth)),
    ...authCases(doc, adminAuth),
    ...methodCases(doc, account.auth),
  ];
  const routes = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  const db = d1File(o.persist);
  const global = () => ({
    objects: r2Keys(o.persist).length,
    jobs: Number(sqlite(db, "SELECT COUNT(*) FROM jobs")[0][0]),
    accounts: Number(sqlite(db, "SELECT COUNT(*) FROM accounts")[0][0]),
    debits: Number(sqlite(db, "SELECT COUNT(*) FROM ledger WHERE delta < 0")[0][0]),
  });
  const before = footprint(o.persist, account.id);
  const globalBefore = global();
  const keysBefore = new Set(r2Keys(o.persist));

  const r: BadInputsResult = {
    cases: cases.length,
    routes: routes.length,
    routesCovered: 0,
    uncovered: [],
    problems4xx: 0,
    disagreeing: [],
    status5xx: [],
    status2xx: [],
    other: [],
    creditsCharged: 0,
    jobsCreated: 0,
    objectsStored: 0,
    idempotencyKeys: 0,
    healthzAnswered: 0,
    healthzMaxMs: 0,
    byStatus: {},
    lateFailures: [],
  };
  const accepted: { name: string; id: string }[] = [];
  for (const c of cases) {
    const a: Answer = await send(`${o.edge}${c.path}`, { timeoutMs: 30_000, ...c.o });
    r.byStatus[a.status] = (r.byStatus[a.status] ?? 0) + 1;
    const label = `${c.name} -> ${a.status} ${json(a).type ?? a.body.toString("utf8").slice(0, 80)}`;
    if (a.status >= 500) r.status5xx.push(label);
    else if (c.route === "POST /v1/jobs" && (a.status === 202 || a.status === 200) && json(a).id)
      accepted.push({ name: c.name, id: String(json(a).id) });
    else if (a.status >= 200 && a.status < 300) r.status2xx.push(label);
    else if (a.status >= 400 && a.status < 500) {
      if (problemAgrees(a)) r.problems4xx++;
      else r.disagreeing.push(label);
    } else r.other.push(label);
    const h = await send(`${o.edge}/healthz`, { timeoutMs: 5000 });
    if (h.status === 200) r.healthzAnswered++;
    r.healthzMaxMs = Math.max(r.healthzMaxMs, h.ms);
  }
  // Accepted jobs: wait until they are final; a late failure must be a 4xx problem, uncharged.
  const deadline = Date.now() + 180_000;
  for (const j of accepted) {
    for (;;) {
      const [row] = sqlite(db, "SELECT status, error, credits_charged FROM jobs WHERE id = ?", [j.id]) as [
        string,
        string,
        number,
      ][];
      if (!row) break;
      const [status, error, charged] = row;
      if (["succeeded", "failed", "canceled"].includes(status) || Date.now() > deadline) {
        const e = JSON.parse(error ?? "{}") as { type?: string; status?: number };
        const late = { name: j.name, status, error: `${e.status ?? ""} ${String(e.type ?? "").replace(/^.*\//, "")}`, charged };
        if (status === "failed" && (e.status ?? 0) >= 400 && (e.status ?? 0) < 500 && charged === 0) r.lateFailures.push(late);
        else r.status2xx.push(`${j.name} -> job ${status} ${late.error} charged ${charged}`);
        break;
      }
      await new Promise((res) => setTimeout(res, 500));
    }
  }
  const covered = new Set(cases.map((c) => c.route).filter(Boolean));
  r.uncovered = routes.filter((x) => !covered.has(x));
  r.routesCovered = routes.length - r.uncovered.length;
  const after = footprint(o.persist, account.id);
  const globalAfter = global();
  // The account's balance moves only through its ledger; any debit anywhere counts too.
  r.creditsCharged = before.balance - after.balance + (globalAfter.debits - globalBefore.debits);
  r.jobsCreated = globalAfter.jobs - globalBefore.jobs;
  // New objects, except the inputs of the accepted jobs that failed late (jobs/<id>/...).
  const late = r.lateFailures.map((l) => `jobs/${accepted.find((a) => a.name === l.name)?.id}/`);
  r.objectsStored = r2Keys(o.persist).filter((k) => !keysBefore.has(k) && !late.some((p) => k.startsWith(p))).length;
  r.idempotencyKeys = after.idempotencyKeys - before.idempotencyKeys;
  if (after.holds !== before.holds) r.other.push(`credit holds left: ${after.holds - before.holds}`);
  if (globalAfter.accounts !== globalBefore.accounts)
    r.other.push(`accounts created: ${globalAfter.accounts - globalBefore.accounts}`);
  o.log(
    `bad inputs: ${r.cases} cases, ${r.problems4xx} agreeing 4xx problems, ${r.status5xx.length} 5xx, ${r.status2xx.length} 2xx`,
  );
  return r;
}

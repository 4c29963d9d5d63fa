/**
 * Builds the static assets the edge serves beside the API (`wrangler dev|deploy --assets web/dist`):
 *   /                      the demo page (web/demo/)
 *   /widget/               <gmcnn-inpaint> (ES modules; the in-page model code is a lazy chunk),
 *                          onnxruntime-web's browser bundles and gzipped WASM, the shipped model
 *   /sdk.js                the SDK as one ES module
 *   /assets/swagger-ui/    swagger-ui-dist, for /docs
 *   /examples/coffee.png   the demo's starting picture
 *   /_headers              cross-origin isolation (WASM threads), CORS for the widget's files, and
 *                          the Worker's security headers (workers/security-headers.ts) for the pages
 * No source maps: the deployed assets are what `npm run deploy:edge` uploads (GMCNN_SOURCEMAPS=1
 * builds them for local debugging); maps left by an earlier build are deleted.
 * Quick when nothing changed: files are copied or compressed only when their source is newer.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { staticPageHeaders } from "../workers/security-headers.ts";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const WEB_DIST = join(ROOT, "web/dist");
const ORT = join(ROOT, "node_modules/onnxruntime-web/dist");
const SWAGGER = join(ROOT, "node_modules/swagger-ui-dist");
const MODEL = join(ROOT, "gpu-jobs/models/gmcnn.onnx");

const newer = (src: string, dst: string) => !existsSync(dst) || statSync(src).mtimeMs > statSync(dst).mtimeMs;

function copy(src: string, dst: string, transform?: (b: Buffer) => Buffer): void {
  if (!newer(src, dst)) return;
  mkdirSync(dirname(dst), { recursive: true });
  if (transform) writeFileSync(dst, transform(readFileSync(src)));
  else copyFileSync(src, dst);
}

/** The model's file name carries its version, so a new model is a new URL (and a new cache entry). */
export function modelFileName(): string {
  const manifest = JSON.parse(readFileSync(join(ROOT, "gpu-jobs/models/gmcnn.manifest.json"), "utf8")) as {
    name?: string;
    version?: string;
  };
  return `${manifest.name ?? "gmcnn"}-${manifest.version ?? "0"}.onnx`;
}

/**
 * `page`: the security headers of the HTML pages, as header lines. They go into the pages' own
 * rules: of two rules for one path, wrangler keeps one.
 */
const HEADERS = (page: string) => `# Cross-origin isolation: onnxruntime-web runs WASM with threads only in an isolated page.
/
  Cross-Origin-Opener-Policy: same-origin
  Cross-Origin-Embedder-Policy: require-corp
${page}/index.html
  Cross-Origin-Opener-Policy: same-origin
  Cross-Origin-Embedder-Policy: require-corp
${page}/*
  X-Content-Type-Options: nosniff
# The widget, its runtime and its model may be loaded by pages on other origins.
/widget/*
  Access-Control-Allow-Origin: *
  Cross-Origin-Resource-Policy: cross-origin
  Cross-Origin-Embedder-Policy: require-corp
/sdk.js
  Access-Control-Allow-Origin: *
  Cross-Origin-Resource-Policy: cross-origin
/examples/*
  Access-Control-Allow-Origin: *
  Cross-Origin-Resource-Policy: cross-origin
`;

const SOURCEMAPS = process.env.GMCNN_SOURCEMAPS === "1";

/** Deletes *.map under `dir` (an earlier build's, which deploy:edge would otherwise upload). */
function removeMaps(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) removeMaps(p);
    else if (e.name.endsWith(".map")) rmSync(p);
  }
}

/** The security headers of the HTML pages, as _headers lines (nosniff comes from the /* rule). */
const pageLines = (h: Record<string, string>): string =>
  Object.entries(h)
    .filter(([k]) => k !== "x-content-type-options")
    .map(([k, v]) => `  ${k}: ${v}\n`)
    .join("");

export async function buildWeb(): Promise<string> {
  const out = WEB_DIST;
  if (!SOURCEMAPS) removeMaps(out);
  const model = `models/${modelFileName()}`;
  // Workers static assets stop at 25 MiB a file; gzipped, the WASM binaries are 3.5 and 6.4 MiB.
  for (const f of ["ort-wasm-simd-threaded.wasm", "ort-wasm-simd-threaded.asyncify.wasm"])
    copy(join(ORT, f), join(out, "widget/ort", `${f}.gz`), (b) => gzipSync(b, { level: 6 }));
  // What "run in my browser" downloads once: the model and the (gzipped) WASM runtime.
  const runtimeBytes = statSync(join(out, "widget/ort/ort-wasm-simd-threaded.wasm.gz")).size;
  await build({
    // widget/local.js: the in-page model code, also loadable on its own (bench/browser.ts);
    // widget/local-worker.js: the worker the widget runs it in (terminated to cancel a run).
    entryPoints: {
      "widget/gmcnn-inpaint": join(ROOT, "web/widget/index.ts"),
      "widget/local": join(ROOT, "web/widget/local.ts"),
      "widget/local-worker": join(ROOT, "web/widget/local-worker.ts"),
      demo: join(ROOT, "web/demo/demo.ts"),
    },
    outdir: out,
    bundle: true,
    splitting: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: SOURCEMAPS,
    chunkNames: "widget/[name]-[hash]",
    define: {
      __GMCNN_MODEL_FILE__: JSON.stringify(model),
      __GMCNN_MODEL_BYTES__: String(statSync(MODEL).size),
      __GMCNN_RUNTIME_BYTES__: String(runtimeBytes),
    },
    logLevel: "warning",
    external: ["onnxruntime-web"],
  });
  await build({
    entryPoints: { sdk: join(ROOT, "sdk/index.ts") },
    outdir: out,
    bundle: true,
    format: "esm",
    target: "es2022",
    minify: true,
    sourcemap: SOURCEMAPS,
    logLevel: "warning",
  });
  copy(join(ROOT, "web/demo/index.html"), join(out, "index.html"));
  copy(join(ROOT, "examples/coffee.png"), join(out, "examples/coffee.png"));
  for (const f of ["ort.wasm.bundle.min.mjs", "ort.webgpu.bundle.min.mjs"]) copy(join(ORT, f), join(out, "widget/ort", f));
  copy(MODEL, join(out, "widget", model));
  for (const f of ["swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"])
    copy(join(SWAGGER, f), join(out, "assets/swagger-ui", f));
  writeFileSync(join(out, "_headers"), HEADERS(pageLines(await staticPageHeaders())));
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t = Date.now();
  buildWeb().then((dir) => console.log(`web assets in ${dir} (${Date.now() - t} ms)`));
}

/**
 * `gmcnn inpaint`: one image (--image/--mask/--out) or a batch (--batch PAIRS.tsv).
 * Every pixel outside the mask is kept exactly; output files are written atomically (temp file
 * + rename), so a failure never leaves a partial output.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { jpegOrientation, orientImage, orientMask } from "../../shared/imaging/exif.ts";
import { holeCount } from "../../shared/imaging/mask.ts";
import { holeRegions, inpaintPipeline } from "../../shared/imaging/pipeline.ts";
import type { ImageFormat } from "../../shared/imaging/sniff.ts";
import type { RequestOptions } from "../../shared/plugins/contract.ts";
import { regionInfer } from "../../shared/plugins/inference/region.ts";
import type { PluginSet } from "../../shared/plugins/registry.ts";
import { Problem } from "../../shared/problems.ts";
import { decodeImage } from "../codecs.ts";
import { loadNodePlugins, nodeCodecs } from "../plugins/host.ts";
import { OPTION_FLAGS, optionsFromFlags } from "./args.ts";
import { Progress } from "./progress.ts";

export const INPAINT_USAGE = `usage: gmcnn inpaint --image IN --mask MASK --out OUT [options]
       gmcnn inpaint --batch PAIRS.tsv [options]      (lines: image<TAB>mask<TAB>out)
MASK: a PNG (white = hole), or a JSON file a mask source reads (COCO RLE, shapes, ...)
options: --model FILE.onnx|NAME[@VERSION]  --runtime node|web  --threads N
         --backend local|http|fallback  --gpu-url URL   (default: local, ONNX Runtime in-process)
         --hd-strategy original|resize|crop  --dilate PX  --erode PX
         --invert-mask  --mask-resize  --mask-source luminance|alpha  --output-format png|jpeg|webp  --jpeg-quality Q
plugins: --feather PX  --seam-blend  --texture on|auto  --grain S   (every option of a loaded plugin is a flag)`;

const EXT_FORMAT: Record<string, ImageFormat> = { ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp" };

/** Every file is allowed up to this many pixels (no Worker memory limit here). */
const MAX_PIXELS = 100e6;

async function readInput(path: string, what: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Problem("bad-request", `${what} ${path}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`);
  }
}

async function writeAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = resolve(dirname(path), `.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(tmp, bytes);
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw new Problem("bad-request", `cannot write ${path}: ${(e as Error).message}`);
  }
}

export interface Job {
  image: string;
  mask: string;
  out: string;
}

/**
 * Inpaint one file pair with the loaded plugins: the mask through its mask source, the regions
 * through the inference backend (in-process ONNX Runtime unless --backend says otherwise), the
 * fills through the post-processors the options turn on, the result through its encoder.
 * Returns the number of hole pixels.
 */
export async function inpaintFile(plugins: PluginSet, job: Job, o: RequestOptions): Promise<number> {
  const imgBytes = await readInput(job.image, "image");
  const maskBytes = await readInput(job.mask, "mask");
  const { image, format } = await decodeImage(imgBytes, "image", MAX_PIXELS);
  const input = { bytes: maskBytes };
  const source = plugins.maskSourceFor(input);
  const size = { width: image.width, height: image.height };
  const loaded = await source.hooks.load(input, {
    image: size,
    options: o,
    codecs: nodeCodecs(MAX_PIXELS),
    limits: { maxSide: 65535, maxMegapixels: MAX_PIXELS / 1e6 },
  });
  // The mask is in the stored pixel grid, like the edge's; both are turned upright together.
  const orientation = format === "jpeg" ? jpegOrientation(imgBytes) : 1;
  const mask = orientMask(loaded.build(size), orientation);
  const outFormat = o.output_format ?? EXT_FORMAT[extname(job.out).toLowerCase()] ?? format;
  const encoder = plugins.encoder(outFormat);
  const holes = holeCount(mask);
  if (holes === 0 && outFormat === format) {
    await writeAtomic(job.out, imgBytes); // nothing to fill: the input, byte for byte
    return 0;
  }
  const post = plugins.postProcessorsFor(o);
  // One region per connected hole (crop), composited in place: the same shared code as the edge.
  const { image: result } = await inpaintPipeline(
    orientImage(image, orientation),
    mask,
    o,
    regionInfer(plugins.backend, { model: o.model }),
    holeRegions,
    {
      inPlace: true,
      post: async (fill, whole, m) => {
        for (const p of post) await p.hooks.process(fill, whole, m, o);
      },
    },
  );
  await writeAtomic(job.out, await encoder.hooks.encode(result, o));
  return holes;
}

async function readBatch(path: string): Promise<Job[]> {
  const text = new TextDecoder().decode(await readInput(path, "batch file"));
  const base = dirname(resolve(path));
  return text
    .split(/\r?\n/)
    .map((l, i) => [l, i + 1] as const)
    .filter(([l]) => l.trim() !== "" && !l.startsWith("#"))
    .map(([l, n]) => {
      const cols = l.split("\t");
      if (cols.length !== 3) throw new Problem("bad-request", `${path}:${n}: expected 3 tab-separated paths, got ${cols.length}`);
      const [image, mask, out] = cols.map((c) => resolve(base, c.trim()));
      return { image, mask, out };
    });
}

export async function inpaintCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      image: { type: "string" },
      mask: { type: "string" },
      out: { type: "string" },
      batch: { type: "string" },
      model: { type: "string" },
      runtime: { type: "string", default: "node" },
      threads: { type: "string" },
      backend: { type: "string" },
      "gpu-url": { type: "string" },
      help: { type: "boolean", short: "h" },
      ...OPTION_FLAGS,
    },
  });
  if (values.help) {
    console.log(INPAINT_USAGE);
    return 0;
  }
  const opts = optionsFromFlags(values);
  let jobs: Job[];
  if (values.batch) jobs = await readBatch(values.batch);
  else if (values.image && values.mask && values.out) jobs = [{ image: values.image, mask: values.mask, out: values.out }];
  else throw new Problem("bad-request", "need --image, --mask and --out (or --batch PAIRS.tsv); see --help");
  if (values.runtime !== "node" && values.runtime !== "web") throw new Problem("bad-request", "--runtime must be node or web");
  // Flags over the environment: one place for the plugins' settings (docs/plugins.md).
  const flags: Record<string, string | undefined> = {
    GMCNN_MODEL: values.model,
    GMCNN_RUNTIME: values.runtime,
    GMCNN_THREADS: values.threads,
    GPU_BACKEND: values.backend,
    GPU_URL: values["gpu-url"],
  };
  const settings = { ...process.env, ...Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined)) };
  const plugins = await loadNodePlugins(settings, { maxPixels: MAX_PIXELS });
  const bar = jobs.length > 1 ? new Progress(jobs.length, "inpaint ") : null;
  let failed = 0;
  for (const [i, job] of jobs.entries()) {
    try {
      const t = Date.now();
      const holes = await inpaintFile(plugins, job, opts);
      if (!bar) console.error(`${job.out}: ${holes} hole pixels filled in ${Date.now() - t} ms`);
    } catch (e) {
      if (!(e instanceof Problem) || !bar) throw e;
      failed++;
      process.stderr.write(`\n${job.image}: ${e.title}: ${e.message}\n`);
    }
    bar?.tick(i + 1, failed ? `${failed} failed` : "");
  }
  return failed ? 1 : 0;
}

/**
 * `gmcnn inpaint`: one image (--image/--mask/--out) or a batch (--batch PAIRS.tsv).
 * Every pixel outside the mask is kept exactly; output files are written atomically (temp file
 * + rename), so a failure never leaves a partial output.
 */
import { randomBytes } from "node:crypto";
import { readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, extname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { featherFill } from "../../shared/imaging/composite.ts";
import { jpegOrientation, orientImage, orientMask } from "../../shared/imaging/exif.ts";
import { holeCount, maskFromImage } from "../../shared/imaging/mask.ts";
import { holeRegions, inpaintPipeline } from "../../shared/imaging/pipeline.ts";
import { resizeMask } from "../../shared/imaging/resize.ts";
import type { ImageFormat } from "../../shared/imaging/sniff.ts";
import { Problem } from "../../shared/problems.ts";
import type { InpaintOptions } from "../../shared/schemas/options.ts";
import { decodeImage, encodeImage } from "../codecs.ts";
import { resolveModel } from "../runtime/models.ts";
import { inpaintRegion } from "../runtime/runner.ts";
import { createSession, type ModelSession, type RuntimeKind } from "../runtime/session.ts";
import { OPTION_FLAGS, optionsFromFlags } from "./args.ts";
import { Progress } from "./progress.ts";

export const INPAINT_USAGE = `usage: gmcnn inpaint --image IN --mask MASK --out OUT [options]
       gmcnn inpaint --batch PAIRS.tsv [options]      (lines: image<TAB>mask<TAB>out)
options: --model FILE.onnx|NAME[@VERSION]  --runtime node|web  --threads N
         --hd-strategy original|resize|crop  --dilate PX  --erode PX  --feather PX
         --invert-mask  --mask-resize  --mask-source luminance|alpha  --output-format png|jpeg|webp  --jpeg-quality Q`;

const EXT_FORMAT: Record<string, ImageFormat> = { ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".webp": "webp" };

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

/** Inpaint one file pair with an open session. Returns the number of hole pixels. */
export async function inpaintFile(session: () => Promise<ModelSession>, job: Job, o: InpaintOptions): Promise<number> {
  const imgBytes = await readInput(job.image, "image");
  const maskBytes = await readInput(job.mask, "mask");
  const { image, format } = await decodeImage(imgBytes, "image");
  const { image: maskImg } = await decodeImage(maskBytes, "mask");
  const sameSize = maskImg.width === image.width && maskImg.height === image.height;
  if (!sameSize && !o.mask_resize)
    throw new Problem(
      "mask-mismatch",
      `mask is ${maskImg.width}x${maskImg.height} but the image is ${image.width}x${image.height} (--mask-resize scales it)`,
    );
  // The mask is in the stored pixel grid, like the edge's; both are turned upright together.
  const orientation = format === "jpeg" ? jpegOrientation(imgBytes) : 1;
  let binary = maskFromImage(maskImg, o.mask_source, o.invert_mask);
  if (!sameSize) binary = resizeMask(binary, image.width, image.height);
  const mask = orientMask(binary, orientation);
  const outFormat = o.output_format ?? EXT_FORMAT[extname(job.out).toLowerCase()] ?? format;
  const holes = holeCount(mask);
  if (holes === 0 && outFormat === format) {
    await writeAtomic(job.out, imgBytes); // nothing to fill: the input, byte for byte
    return 0;
  }
  const s = await session(); // loaded only once an input proved valid
  // One region per connected hole (crop), composited in place: the same shared code as the edge.
  const { image: result } = await inpaintPipeline(
    orientImage(image, orientation),
    mask,
    o,
    (part, m) => inpaintRegion(s, part, m),
    holeRegions,
    { inPlace: true, post: (f, img, m) => featherFill(f.image, f.region.box, img, m, o.feather) },
  );
  await writeAtomic(job.out, await encodeImage(result, outFormat, o.jpeg_quality));
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

export async function openModel(spec: string | undefined, runtime: RuntimeKind, threads?: number): Promise<ModelSession> {
  const path = spec?.endsWith(".onnx") ? spec : resolveModel(spec).path;
  try {
    return await createSession(path, { runtime, threads });
  } catch (e) {
    throw new Problem("model-not-found", `cannot load model ${path}: ${(e as Error).message}`);
  }
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
  const runtime = values.runtime;
  let opened: Promise<ModelSession> | undefined;
  const session = () => {
    opened ??= openModel(values.model, runtime, values.threads ? Number(values.threads) : undefined);
    return opened;
  };
  const bar = jobs.length > 1 ? new Progress(jobs.length, "inpaint ") : null;
  let failed = 0;
  for (const [i, job] of jobs.entries()) {
    try {
      const t = Date.now();
      const holes = await inpaintFile(session, job, opts);
      if (!bar) console.error(`${job.out}: ${holes} hole pixels filled in ${Date.now() - t} ms`);
    } catch (e) {
      if (!(e instanceof Problem) || !bar) throw e;
      failed++;
      process.stderr.write(`\n${job.image}: ${e.title}: ${e.message}\n`);
    }
    bar?.tick(i + 1, failed ? `${failed} failed` : "");
  }
  if (opened) await (await opened).release();
  return failed ? 1 : 0;
}

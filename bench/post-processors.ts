/**
 * `npm run bench:post`: hole-PSNR and sharpness of the shipped model's fills with and without
 * each post-processor plugin, on the evaluation images (data/val by default: `python3 -m
 * model.dataset` builds it) with the evaluation's masks (centre hole, seeded free-form strokes),
 * the same metrics as `npm run eval` (gpu-jobs/model/metrics.py: hole-PSNR capped at 50 dB,
 * sharpness = detail in the hole, output over truth, 1.0 = as much as the real image). The model
 * runs once per image (local backend, in-process); every configuration post-processes a copy of
 * the same fills, so the differences are the post-processors' alone. Also a texture statistic that
 * white noise fails (issue 19): the bidirectional nearest-patch (Chamfer) RMS distance between the
 * high-pass grey 7x7 patches of the output and of the truth centred in the hole (grey minus its
 * Gaussian blur of sigma 1.5; centres on a grid of stride s, s the smallest that keeps --patches
 * or fewer; lower is better), and each configuration's post-processing time (this machine's).
 *
 * Options: --split val|test  --n 32 (images per mask kind)  --only LABEL,LABEL  --patches 65536  --json FILE
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { decodeImage, encodeImage } from "../gpu-jobs/codecs.ts";
import { loadNodePlugins, RequestOptions } from "../gpu-jobs/plugins/host.ts";
import { maskFromImage } from "../shared/imaging/mask.ts";
import { type Fill, fillRegion, finishFill, planWork, prepareMask } from "../shared/imaging/pipeline.ts";
import type { RequestOptions as Options } from "../shared/plugins/contract.ts";
import { regionInfer } from "../shared/plugins/inference/region.ts";

const { values: args } = parseArgs({
  options: {
    split: { type: "string", default: "val" },
    n: { type: "string", default: "32" },
    only: { type: "string" },
    patches: { type: "string", default: "65536" },
    json: { type: "string" },
  },
});
const ROOT = new URL("..", import.meta.url).pathname;
const PY = "/usr/bin/python3";
const py = (code: string, ...argv: string[]) =>
  execFileSync(PY, ["-c", code, ...argv], {
    cwd: ROOT,
    env: { ...process.env, PYTHONPATH: join(ROOT, "gpu-jobs") },
    encoding: "utf8",
  });

const ALL: Record<string, Record<string, unknown>> = {
  none: {},
  seam_blend: { seam_blend: true },
  "grain=1": { grain: 1 },
  "feather=8": { feather: 8 },
  "seam_blend + grain=1": { seam_blend: true, grain: 1 },
  "texture=on": { texture: "on" },
};
const only = args.only?.split(",").map((l) => l.trim());
const CONFIGS = Object.fromEntries(Object.entries(ALL).filter(([label]) => !only || only.includes(label)));

const dir = mkdtempSync(join(tmpdir(), "gmcnn-post-"));
try {
  // 1. The evaluation's images and masks, as PNGs (white = hole), from the evaluation's own code.
  const listing = py(
    `
import sys, json, numpy as np
from pathlib import Path
from PIL import Image
from model.evaluate import eval_images, eval_masks, split_folder
d, split, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
imgs = eval_images(split_folder(split), n)
out = []
for kind in ("center", "freeform"):
    h, w = imgs[0].shape[:2]
    for i, (im, m) in enumerate(zip(imgs, eval_masks(kind, h, w, len(imgs)))):
        Image.fromarray(im).save(d / f"{kind}-{i}.png")
        Image.fromarray((m > 0.5).astype(np.uint8) * 255).save(d / f"{kind}-{i}-mask.png")
        out.append(f"{kind}-{i}")
print(json.dumps(out))
`,
    dir,
    String(args.split),
    String(args.n),
  );
  const names = JSON.parse(listing) as string[];

  // 2. One model run per image; each configuration post-processes a copy of the same fills.
  const plugins = await loadNodePlugins({ ...process.env, GPU_BACKEND: "local" });
  const infer = regionInfer(plugins.backend, {});
  const started = Date.now();
  const postMs: Record<string, number> = Object.fromEntries(Object.keys(CONFIGS).map((l) => [l, 0]));
  for (const name of names) {
    const img = (await decodeImage(readFileSync(join(dir, `${name}.png`)))).image;
    const o = RequestOptions.parse({}) as Options;
    const mask = prepareMask(maskFromImage((await decodeImage(readFileSync(join(dir, `${name}-mask.png`)))).image), o);
    const fills: Fill[] = [];
    for (const r of planWork(mask, o)) fills.push(await fillRegion(img, mask, r, infer));
    for (const [label, over] of Object.entries(CONFIGS)) {
      const opts = RequestOptions.parse(over) as Options;
      const out = { width: img.width, height: img.height, data: img.data.slice() };
      const chosen = plugins.postProcessorsFor(opts);
      const t0 = performance.now();
      for (const f of fills) {
        const copy: Fill = { region: f.region, image: { ...f.image, data: f.image.data.slice() } };
        await finishFill(out, mask, copy, async (fill, whole, m) => {
          for (const p of chosen) await p.hooks.process(fill, whole, m, opts);
        });
      }
      postMs[label] += performance.now() - t0;
      writeFileSync(join(dir, `${name}@${label.replace(/[^a-z0-9=_+]/gi, "_")}.png`), await encodeImage(out, "png"));
    }
  }
  const seconds = (Date.now() - started) / 1000;

  // 3. The evaluation's metrics per configuration and mask kind.
  const result = JSON.parse(
    py(
      `
import sys, json, math, numpy as np
from pathlib import Path
from PIL import Image
from scipy.ndimage import gaussian_filter
from numpy.lib.stride_tricks import sliding_window_view
from model.evaluate import score, summarise
d, names, labels, cap = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
rgb = lambda p: np.asarray(Image.open(p).convert("RGB"))

def hp_patches(im, hole):
    g = im.astype(np.float32).mean(axis=2)
    hp = g - gaussian_filter(g, 1.5)
    h, w = hp.shape
    ys, xs = np.nonzero(hole)
    inside = (ys >= 3) & (ys < h - 3) & (xs >= 3) & (xs < w - 3)
    ys, xs = ys[inside], xs[inside]
    s = max(1, math.ceil(math.sqrt(len(ys) / cap)))
    on = (ys % s == 0) & (xs % s == 0)
    return sliding_window_view(hp, (7, 7))[ys[on] - 3, xs[on] - 3].reshape(-1, 49)

def nearest_rms(a, b):
    b2 = (b * b).sum(1)
    out = [np.sqrt(np.maximum(((x * x).sum(1)[:, None] + b2[None, :] - 2 * x @ b.T).min(1), 0) / 49)
           for x in (a[i:i + 1024] for i in range(0, len(a), 1024))]
    return float(np.concatenate(out).mean())

def chamfer(out, truth, hole):
    a, b = hp_patches(out, hole), hp_patches(truth, hole)
    return 0.5 * (nearest_rms(a, b) + nearest_rms(b, a))

res = {}
for label in labels:
    for kind in ("center", "freeform"):
        rows, ch = [], []
        for n in names:
            if not n.startswith(kind):
                continue
            out, truth, hole = rgb(d / f"{n}@{label}.png"), rgb(d / f"{n}.png"), np.asarray(Image.open(d / f"{n}-mask.png")) > 127
            rows.append(score(out, truth, hole))
            ch.append(chamfer(out, truth, hole))
        res.setdefault(label, {})[kind] = {**summarise(rows), "chamfer": round(float(np.mean(ch)), 3)}
print(json.dumps(res))
`,
      dir,
      JSON.stringify(names),
      JSON.stringify(Object.keys(CONFIGS).map((l) => l.replace(/[^a-z0-9=_+]/gi, "_"))),
      String(args.patches),
    ),
  ) as Record<string, Record<string, { hole_psnr: number; sharpness: number; psnr: number; ssim: number; chamfer: number }>>;

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(
    `\npost-processors on ${args.split} (${names.length / 2} images x 2 mask kinds), gmcnn via the local backend; ${cpu}; ${seconds.toFixed(0)} s\n`,
  );
  console.log(
    "| post-processing | centre hole-PSNR | centre sharpness | centre texture distance | free-form hole-PSNR | free-form sharpness | free-form texture distance | post-processing per image |",
  );
  console.log("|---|---|---|---|---|---|---|---|");
  for (const label of Object.keys(CONFIGS)) {
    const r = result[label.replace(/[^a-z0-9=_+]/gi, "_")];
    const kind = (k: { hole_psnr: number; sharpness: number; chamfer: number }) =>
      `${k.hole_psnr.toFixed(2)} dB | ${k.sharpness.toFixed(3)} | ${k.chamfer.toFixed(2)}`;
    console.log(`| ${label} | ${kind(r.center)} | ${kind(r.freeform)} | ${(postMs[label] / names.length).toFixed(0)} ms |`);
  }
  if (args.json)
    writeFileSync(args.json, JSON.stringify({ split: args.split, n: names.length / 2, cpu, result, post_ms: postMs }, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

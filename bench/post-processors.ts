/**
 * `npm run bench:post`: hole-PSNR and sharpness of the shipped model's fills with and without
 * each post-processor plugin, on the evaluation images (data/val by default: `python3 -m
 * model.dataset` builds it) with the evaluation's masks (centre hole, seeded free-form strokes),
 * the same metrics as `npm run eval` (gpu-jobs/model/metrics.py: hole-PSNR capped at 50 dB,
 * sharpness = detail in the hole, output over truth, 1.0 = as much as the real image). The model
 * runs once per image (local backend, in-process); every configuration post-processes a copy of
 * the same fills, so the differences are the post-processors' alone.
 *
 * Options: --split val|test  --n 32 (images per mask kind)  --json FILE
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
  options: { split: { type: "string", default: "val" }, n: { type: "string", default: "32" }, json: { type: "string" } },
});
const ROOT = new URL("..", import.meta.url).pathname;
const PY = "/usr/bin/python3";
const py = (code: string, ...argv: string[]) =>
  execFileSync(PY, ["-c", code, ...argv], {
    cwd: ROOT,
    env: { ...process.env, PYTHONPATH: join(ROOT, "gpu-jobs") },
    encoding: "utf8",
  });

const CONFIGS: Record<string, Record<string, unknown>> = {
  none: {},
  seam_blend: { seam_blend: true },
  "grain=1": { grain: 1 },
  "feather=8": { feather: 8 },
  "seam_blend + grain=1": { seam_blend: true, grain: 1 },
};

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
      for (const f of fills) {
        const copy: Fill = { region: f.region, image: { ...f.image, data: f.image.data.slice() } };
        await finishFill(out, mask, copy, async (fill, whole, m) => {
          for (const p of chosen) await p.hooks.process(fill, whole, m, opts);
        });
      }
      writeFileSync(join(dir, `${name}@${label.replace(/[^a-z0-9=_+]/gi, "_")}.png`), await encodeImage(out, "png"));
    }
  }
  const seconds = (Date.now() - started) / 1000;

  // 3. The evaluation's metrics per configuration and mask kind.
  const result = JSON.parse(
    py(
      `
import sys, json, numpy as np
from pathlib import Path
from PIL import Image
from model.evaluate import score, summarise
d, names, labels = Path(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
rgb = lambda p: np.asarray(Image.open(p).convert("RGB"))
res = {}
for label in labels:
    for kind in ("center", "freeform"):
        rows = [score(rgb(d / f"{n}@{label}.png"), rgb(d / f"{n}.png"), np.asarray(Image.open(d / f"{n}-mask.png")) > 127)
                for n in names if n.startswith(kind)]
        res.setdefault(label, {})[kind] = summarise(rows)
print(json.dumps(res))
`,
      dir,
      JSON.stringify(names),
      JSON.stringify(Object.keys(CONFIGS).map((l) => l.replace(/[^a-z0-9=_+]/gi, "_"))),
    ),
  ) as Record<string, Record<string, { hole_psnr: number; sharpness: number; psnr: number; ssim: number }>>;

  const cpu = cpus()[0]?.model ?? "unknown CPU";
  console.log(
    `\npost-processors on ${args.split} (${names.length / 2} images x 2 mask kinds), gmcnn via the local backend; ${cpu}; ${seconds.toFixed(0)} s\n`,
  );
  console.log("| post-processing | centre hole-PSNR | centre sharpness | free-form hole-PSNR | free-form sharpness |");
  console.log("|---|---|---|---|---|");
  for (const label of Object.keys(CONFIGS)) {
    const r = result[label.replace(/[^a-z0-9=_+]/gi, "_")];
    console.log(
      `| ${label} | ${r.center.hole_psnr.toFixed(2)} dB | ${r.center.sharpness.toFixed(3)} | ${r.freeform.hole_psnr.toFixed(2)} dB | ${r.freeform.sharpness.toFixed(3)} |`,
    );
  }
  if (args.json) writeFileSync(args.json, JSON.stringify({ split: args.split, n: names.length / 2, cpu, result }, null, 2));
} finally {
  rmSync(dir, { recursive: true, force: true });
}

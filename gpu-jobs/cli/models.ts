import { listModels } from "../runtime/models.ts";

export async function modelsCommand(): Promise<number> {
  for (const { manifest: m, path } of listModels()) {
    const c = m.metrics.center;
    console.log(
      `${m.name}@${m.version}  cnum=${m.architecture.cnum} fill=${m.architecture.fill}  ${(m.bytes / 2 ** 20).toFixed(1)} MiB  ` +
        `${m.training.steps} steps (${m.training.hardware})  centre hole-PSNR ${c.hole_psnr} dB  ${path}`,
    );
  }
  return 0;
}

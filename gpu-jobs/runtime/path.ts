/**
 * Which ways of running the model may serve on this provider and CPU. Pure: session.ts feeds it
 * the variants shipped beside the model (models.ts) and the CPU's features (cpu.ts), then times
 * the candidates and serves the fastest (select.ts).
 *
 * fp32 through ONNX Runtime is always correct and always a candidate. A variant is a candidate only
 * where its manifest says it may run (`use_when`: provider, CPU features) and its measured loss on
 * val is within ACCURACY_BOUND_DB with every unmasked pixel exact.
 */
import type { ModelVariant } from "../../shared/schemas/variant.ts";

export type Precision = "fp32" | "int8" | "fp16" | "bf16";
export type Provider = "cpu" | "cuda" | "tensorrt" | "wasm";
/** Who runs the file: ONNX Runtime, or PyTorch on the file's weights (model/serve_torch.py). */
export type Engine = "onnxruntime" | "torch";

/** Largest hole-PSNR loss against fp32 a variant may have (dB, on val). */
export const ACCURACY_BOUND_DB = 0.1;

export interface VariantFile {
  manifest: ModelVariant;
  path: string;
}

export interface PathChoice {
  precision: Precision;
  engine: Engine;
  /** The ONNX file to load (the torch runner reads its weights). */
  file: string;
  /** Why, in words (for logs, /readyz and the bench manifest). */
  reason: string;
}

export function withinBound(v: ModelVariant): boolean {
  const a = v.accuracy;
  return !!a && a.unmasked_exact && a.center.loss_db <= ACCURACY_BOUND_DB && a.freeform.loss_db <= ACCURACY_BOUND_DB;
}

function fits(v: ModelVariant, provider: Provider, features: readonly string[]): boolean {
  const w = v.use_when;
  return (
    w.providers.includes(provider as never) &&
    (w.cpu_features_any.length === 0 || w.cpu_features_any.some((f) => features.includes(f)))
  );
}

const asChoice = (v: VariantFile, reason: string): PathChoice => ({
  precision: v.manifest.precision,
  engine: v.manifest.runtime,
  file: v.path,
  reason,
});

interface PathInput {
  base: string;
  variants: readonly VariantFile[];
  provider: Provider;
  features: readonly string[];
}

/** A precision asked for explicitly (GMCNN_PRECISION): that one or an error that says why not. */
export function askedPath(input: PathInput & { want: Precision }): PathChoice {
  const { base, variants, want } = input;
  if (want === "fp32") return { precision: "fp32", engine: "onnxruntime", file: base, reason: "fp32 asked for" };
  const v = variants.find((x) => x.manifest.precision === want);
  if (!v) throw new Error(`precision ${want} asked for, but no ${want} variant of this model file is shipped`);
  if (!withinBound(v.manifest)) throw new Error(`the ${want} variant is outside the ${ACCURACY_BOUND_DB} dB accuracy bound`);
  return asChoice(v, `${want} asked for`);
}

/** Every way that may serve here, fp32 first: the ones select.ts times. */
export function pathCandidates(input: PathInput): PathChoice[] {
  const { base, variants, provider, features } = input;
  const out: PathChoice[] = [{ precision: "fp32", engine: "onnxruntime", file: base, reason: "fp32" }];
  for (const v of variants) {
    if (!fits(v.manifest, provider, features) || !withinBound(v.manifest)) continue;
    const where = v.manifest.use_when.cpu_features_any.filter((f) => features.includes(f));
    out.push(
      asChoice(
        v,
        `${v.manifest.precision} variant on ${provider}${where.length ? ` with ${where.join(", ")}` : ""}, loss <= ${ACCURACY_BOUND_DB} dB`,
      ),
    );
  }
  if (out.length === 1) {
    const skipped = variants.map((v) => v.manifest.precision).join(", ");
    out[0].reason = skipped ? `fp32: the ${skipped} variant(s) may not run on ${provider} here` : "fp32: no variant shipped";
  }
  return out;
}

/**
 * Which file and precision a session runs, for the provider and CPU it is on. Pure: session.ts
 * feeds it the variants shipped beside the model (models.ts) and the CPU's features (cpu.ts).
 *
 * fp32 is always correct. A reduced-precision variant is chosen only where its manifest says it
 * wins (`use_when`: provider and CPU features, set from `npm run bench` measurements) and its
 * measured loss on the test split is within ACCURACY_BOUND_DB with every unmasked pixel exact.
 */
import type { ModelVariant } from "../../shared/schemas/variant.ts";

export type Precision = "fp32" | "int8" | "fp16";
export type Provider = "cpu" | "cuda" | "tensorrt" | "wasm";

/** Largest hole-PSNR loss against fp32 a variant may have (dB, on the test split). */
export const ACCURACY_BOUND_DB = 0.1;

export interface VariantFile {
  manifest: ModelVariant;
  path: string;
}

export interface PathChoice {
  precision: Precision;
  /** The ONNX file to load. */
  file: string;
  /** Why, in words (for logs, /readyz and the bench manifest). */
  reason: string;
}

/** Variants win in this order where several qualify (int8 kernels are the fastest where they apply). */
const PREFERENCE: Precision[] = ["int8", "fp16"];

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

export function choosePath(input: {
  base: string;
  variants: readonly VariantFile[];
  provider: Provider;
  features: readonly string[];
  /** "auto" (default) or a precision asked for explicitly (GMCNN_PRECISION). */
  want?: Precision | "auto";
}): PathChoice {
  const { base, variants, provider, features } = input;
  const want = input.want ?? "auto";
  if (want === "fp32") return { precision: "fp32", file: base, reason: "fp32 asked for" };
  if (want !== "auto") {
    const v = variants.find((x) => x.manifest.precision === want);
    if (!v) throw new Error(`precision ${want} asked for, but no ${want} variant of this model file is shipped`);
    if (!withinBound(v.manifest)) throw new Error(`the ${want} variant is outside the ${ACCURACY_BOUND_DB} dB accuracy bound`);
    return { precision: want, file: v.path, reason: `${want} asked for` };
  }
  for (const p of PREFERENCE) {
    const v = variants.find((x) => x.manifest.precision === p);
    if (v && fits(v.manifest, provider, features) && withinBound(v.manifest)) {
      const where = v.manifest.use_when.cpu_features_any.filter((f) => features.includes(f));
      return {
        precision: p,
        file: v.path,
        reason: `${p} variant: wins on ${provider}${where.length ? ` with ${where.join(", ")}` : ""}, loss <= ${ACCURACY_BOUND_DB} dB`,
      };
    }
  }
  const skipped = variants.map((v) => v.manifest.precision).join(", ");
  return {
    precision: "fp32",
    file: base,
    reason: skipped ? `fp32: the ${skipped} variant(s) do not win on ${provider} here` : "fp32: no variant shipped",
  };
}

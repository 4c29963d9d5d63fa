/** What this machine's CPU can do, for choosing an execution path and for naming it in benchmarks. */
import { readFileSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";

/** The /proc/cpuinfo flags that change which kernels are fastest (fp32 SIMD, int8 dot products, bf16/fp16, AMX tiles). */
export const CPU_FEATURES = [
  "avx2",
  "fma",
  "f16c",
  "avx512f",
  "avx512_vnni",
  "avx_vnni",
  "avx512_bf16",
  "avx512_fp16",
  "amx_tile",
  "amx_bf16",
  "amx_int8",
] as const;

export interface CpuInfo {
  model: string;
  /** Cores this process may use. */
  cores: number;
  /** The CPU_FEATURES this CPU has (empty where /proc/cpuinfo is missing). */
  features: string[];
}

/** Parses the text of /proc/cpuinfo (its first processor block). */
export function parseCpuInfo(text: string): { model?: string; features: string[] } {
  const name = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim();
  const family = /^cpu family\s*:\s*(\d+)$/m.exec(text)?.[1];
  const num = /^model\s*:\s*(\d+)$/m.exec(text)?.[1];
  // Virtual machines often show a bare "AMD EPYC": family and model tell the generation apart.
  const model = name && family && num ? `${name} (family ${family}, model ${num})` : name;
  const flags = new Set((/^flags\s*:\s*(.+)$/m.exec(text)?.[1] ?? "").trim().split(/\s+/));
  return { model, features: CPU_FEATURES.filter((f) => flags.has(f)) };
}

let cached: CpuInfo | undefined;

export function cpuInfo(): CpuInfo {
  if (cached) return cached;
  let parsed: { model?: string; features: string[] } = { features: [] };
  try {
    parsed = parseCpuInfo(readFileSync("/proc/cpuinfo", "utf8"));
  } catch {
    /* not Linux: the model name from os.cpus(), features unknown */
  }
  cached = { model: parsed.model ?? cpus()[0]?.model ?? "unknown CPU", cores: availableParallelism(), features: parsed.features };
  return cached;
}

/** "AMD EPYC (family 23, model 49), 2 cores, AVX2 FMA F16C; no AVX-512, no AMX": the machine, for benchmark headers. */
export function describeCpu(c: CpuInfo = cpuInfo()): string {
  const feats = c.features.length ? c.features.map((f) => f.toUpperCase()).join(" ") : "no AVX2";
  const missing = [c.features.includes("avx512f") ? "" : "no AVX-512", c.features.includes("amx_tile") ? "" : "no AMX"].filter(
    Boolean,
  );
  return `${c.model}, ${c.cores} cores, ${feats}${missing.length ? `; ${missing.join(", ")}` : ""}`;
}

/** Where the Python side lives, and which interpreter runs it (Debian's, which has PyTorch). */
import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const GPU_JOBS = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** The first python3 on PATH may be a build without torch: Debian's system interpreter first. */
export const PYTHON = process.env.GMCNN_PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");

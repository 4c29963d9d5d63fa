#!/usr/bin/env node
/** The `gmcnn` command: inpaint, eval, bench, train, models. Errors print one line and exit 1. */
import { Problem } from "../../shared/problems.ts";

const USAGE = `gmcnn <command> [options]
  inpaint   fill the holes of an image (or a batch) with the shipped GMCNN model
  eval      val/test metrics of the model beside Telea, Navier-Stokes, FSR, ShiftMap and mean fill
  bench     ONNX Runtime vs PyTorch eager speed at 256x256 and 512x512
  train     train locally (--remote: on Modal; --status ID; --cancel ID)
  models    list the shipped models
run "gmcnn <command> --help" for its options`;

const commands: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  inpaint: async () => (await import("./inpaint.ts")).inpaintCommand,
  eval: async () => (await import("./python.ts")).evalCommand,
  bench: async () => (await import("../../bench/model.ts")).benchCommand,
  train: async () => (await import("./train.ts")).trainCommand,
  models: async () => (await import("./models.ts")).modelsCommand,
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === "--help" || cmd === "-h") {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  const load = commands[cmd];
  if (!load) {
    console.error(`gmcnn: unknown command "${cmd}"\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof Problem) console.error(`gmcnn: ${e.title}: ${e.message}`);
    else if (e instanceof Error && (e as NodeJS.ErrnoException).code?.startsWith("ERR_PARSE_ARGS"))
      console.error(`gmcnn: ${e.message}`);
    else console.error(`gmcnn: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  },
);

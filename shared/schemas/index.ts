export * from "./manifest.ts";
export * from "./options.ts";
export * from "./training-job.ts";

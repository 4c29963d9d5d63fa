export * from "./accounts.ts";
export * from "./jobs.ts";
export * from "./manifest.ts";
export * from "./options.ts";
export * from "./shapes.ts";
export * from "./tokens.ts";
export * from "./training-job.ts";
export * from "./uploads.ts";

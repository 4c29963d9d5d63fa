export * from "./manifest.ts";
export * from "./options.ts";

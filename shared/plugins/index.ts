/**
 * The plugin API: the contract, the registry and every plugin this repository ships. Plugin
 * packages import from here; gmcnn.config.ts lists the plugins a deployment loads.
 */
export * from "./contract.ts";
export { jpegEncoder, pngEncoder, webpEncoder } from "./encoders.ts";
export { fallbackBackend } from "./inference/fallback.ts";
export { httpBackend } from "./inference/http.ts";
export { localBackend } from "./inference/local.ts";
export { cocoRleMask } from "./mask/coco-rle.ts";
export { pngMask } from "./mask/png.ts";
export { shapesMask } from "./mask/shapes.ts";
export { feather } from "./post/feather.ts";
export { grain } from "./post/grain.ts";
export { seamBlend } from "./post/seam-blend.ts";
export { texture } from "./post/texture.ts";
export { composeOptions, defineConfig, type PluginConfig, type PluginInfo, PluginSet } from "./registry.ts";
export { intSetting, textSetting, urlSetting } from "./settings.ts";
export { cloudinaryWebhooks } from "./webhooks/cloudinary.ts";
export { githubWebhooks } from "./webhooks/github.ts";
export { standardWebhooks } from "./webhooks/standard-webhooks.ts";

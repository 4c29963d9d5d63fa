/**
 * The plugins this deployment loads: the one place a plugin is named. The Worker
 * (workers/plugins/), the GPU function server and the CLI (gpu-jobs/plugins/) all import this
 * module. Plugins are bundled, not loaded at run time: a Worker cannot load code dynamically, so
 * adding a plugin is an import here and a deploy. Order matters: the first mask source that
 * recognises a mask reads it, and post-processors run in the order listed. Configuration comes
 * from settings (wrangler vars and secrets at the edge, the environment in Node), validated when
 * a host starts. See docs/plugins.md.
 */
import { watermarkMask } from "./examples/plugins/watermark-mask/index.ts";
import {
  cloudinaryWebhooks,
  cocoRleMask,
  defineConfig,
  fallbackBackend,
  feather,
  githubWebhooks,
  grain,
  httpBackend,
  jpegEncoder,
  localBackend,
  pngEncoder,
  pngMask,
  seamBlend,
  shapesMask,
  standardWebhooks,
  texture,
  webpEncoder,
} from "./shared/plugins/index.ts";

export default defineConfig({
  plugins: [
    // mask sources (stage `mask`)
    pngMask(),
    shapesMask(),
    cocoRleMask(),
    watermarkMask(),
    // inference backends (stage `infer`): GPU_BACKEND picks one (default http; the CLI: local)
    httpBackend(),
    fallbackBackend(),
    localBackend(),
    // post-processors (stage `post-process`), opt-in per request, in this order
    seamBlend(),
    texture(), // after seam blending: its low-pass is the blended fill's
    feather(),
    grain(),
    // encoders (stage `encode`): output_format
    pngEncoder(),
    jpegEncoder(),
    webpEncoder(),
    // incoming webhook sources (POST /v1/hooks/{integration})
    standardWebhooks(),
    githubWebhooks(),
    cloudinaryWebhooks(),
  ],
});

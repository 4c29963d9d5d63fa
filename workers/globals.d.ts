// Wrangler (and the Vitest pool) bundle `.wasm` imports as compiled modules: workerd forbids
// compiling WebAssembly from bytes at run time.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}

// Types `exports` of "cloudflare:workers" (the loopback to this Worker, used by the tests).
declare namespace Cloudflare {
  interface GlobalProps {
    mainModule: typeof import("./index.ts");
  }
}

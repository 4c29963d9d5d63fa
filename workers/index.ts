/** Worker entry (wrangler.toml `main`): the app, and the Durable Object classes it binds. */
import { createApp } from "./app.ts";
import type { Bindings } from "./env.ts";

export { InpaintCoalescer } from "./coalesce.ts";
export { RateLimiter } from "./ratelimit.ts";

const app = createApp();

export default { fetch: app.fetch } satisfies ExportedHandler<Bindings>;

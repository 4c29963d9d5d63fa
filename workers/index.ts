/** Worker entry (wrangler.toml `main`): the app, the queue consumers, the cron sweep, and the Durable Object classes. */
import type { DeliveryMessage, JobMessage } from "../shared/schemas/jobs.ts";
import { createApp } from "./app.ts";
import type { Bindings } from "./env.ts";
import { handleDeadJobs, handleJobs, sweep } from "./jobs/run.ts";
import { handleDeadDeliveries, handleDeliveries } from "./webhooks/deliver.ts";

export { InpaintCoalescer } from "./coalesce.ts";
export { RateLimiter } from "./ratelimit.ts";
export { WebhookSender } from "./webhooks/sender.ts";

const app = createApp();

/** Queues by name (wrangler.toml): the dead-letter ones end a job or a delivery as failed. */
async function queue(batch: MessageBatch, env: Bindings, _ctx: ExecutionContext): Promise<void> {
  const name = batch.queue;
  if (name.endsWith("jobs-dlq")) return handleDeadJobs(batch as MessageBatch<JobMessage>, env);
  if (name.endsWith("jobs")) return handleJobs(batch as MessageBatch<JobMessage>, env);
  if (name.endsWith("webhooks-dlq")) return handleDeadDeliveries(batch as MessageBatch<DeliveryMessage>, env);
  if (name.endsWith("webhooks")) return handleDeliveries(batch as MessageBatch<DeliveryMessage>, env);
  console.error(JSON.stringify({ error: `no consumer for queue ${name}` }));
  batch.retryAll();
}

export default {
  fetch: app.fetch,
  queue,
  scheduled: async (_controller, env, ctx) => {
    ctx.waitUntil(sweep(env).then((r) => console.log(JSON.stringify({ sweep: r }))));
  },
} satisfies ExportedHandler<Bindings>;

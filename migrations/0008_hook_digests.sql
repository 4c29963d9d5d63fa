-- Incoming webhooks (POST /v1/hooks/{integration}): a digest of what each accepted event's
-- signature covers (the body for GitHub-style sources, id.timestamp.body for Standard Webhooks,
-- body + timestamp for Cloudinary), per integration. A delivery id that the signature does not
-- cover (X-GitHub-Delivery) can be changed by anyone who saw one event: the digest cannot, so a
-- replay under a new id is refused (409 webhook-replayed) and creates no job. Rows are kept for
-- HOOK_REPLAY_RETENTION_S (7 days by default; the cron sweep prunes them).
CREATE TABLE hook_digests (
  integration TEXT NOT NULL,
  digest TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  job_id TEXT,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (integration, digest)
);
CREATE INDEX hook_digests_age ON hook_digests(received_at);

-- Async jobs (POST /v1/jobs), outgoing webhooks (signing secrets, deliveries and their attempts)
-- and incoming webhook triggers (integrations and the webhook-ids they sent).

-- owner: the account id, or "dev:<digest>" for an unmetered dev key. Inputs and the result are
-- R2 objects under jobs/<id>/ until expires_at (retention), then deleted (purged_at set).
CREATE TABLE jobs (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  -- The account charged on success (NULL for dev keys) and the credits held meanwhile.
  account_id TEXT,
  hold_id TEXT,
  price INTEGER NOT NULL DEFAULT 0,
  credits_charged INTEGER NOT NULL DEFAULT 0,
  status TEXT NOT NULL CHECK (status IN ('queued', 'processing', 'succeeded', 'failed', 'canceled')),
  -- JSON: { image: {key, format, width, height}, mask: {key} | {shapes}, options }
  input TEXT NOT NULL,
  webhook TEXT,
  -- Comma-separated events that are delivered: started, completed.
  webhook_events TEXT NOT NULL DEFAULT 'completed',
  -- 'api' or 'hook:<integration>'.
  source TEXT NOT NULL DEFAULT 'api',
  request_id TEXT,
  -- Consumer runs that started (queue deliveries that reached the GPU step).
  attempts INTEGER NOT NULL DEFAULT 0,
  -- While processing: the run that owns the job until then (a redelivery after it may take over).
  lease_until INTEGER,
  -- JSON: { key, content_type, model, regions, cache } once succeeded.
  result TEXT,
  -- JSON problem { type, title, status, detail } once failed (or the last transient error).
  error TEXT,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  completed_at INTEGER,
  expires_at INTEGER NOT NULL,
  purged_at INTEGER
);
CREATE INDEX jobs_owner ON jobs(owner, created_at);
CREATE INDEX jobs_open ON jobs(status, lease_until);
CREATE INDEX jobs_expiry ON jobs(expires_at);

CREATE TABLE webhook_secrets (
  id TEXT PRIMARY KEY,
  owner TEXT NOT NULL,       -- account id, or "dev:<digest>" for unmetered dev keys
  secret TEXT NOT NULL,      -- "whsec_" + base64 of 24 random bytes
  created_at INTEGER NOT NULL,   -- ms
  retires_at INTEGER         -- NULL: the current secret; else it keeps signing until then (ms)
);
CREATE INDEX webhook_secrets_owner ON webhook_secrets(owner, created_at);

-- One row per webhook message (its webhook-id, the same on every attempt); the body is stored so
-- that every attempt sends the same bytes.
CREATE TABLE webhook_deliveries (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL,
  owner TEXT NOT NULL,
  event TEXT NOT NULL,
  url TEXT NOT NULL,
  body TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  created_at INTEGER NOT NULL,
  UNIQUE (job_id, event)
);

CREATE TABLE webhook_attempts (
  delivery_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  at INTEGER NOT NULL,
  -- NULL when no response came (timeout, network error, refused URL).
  status_code INTEGER,
  error TEXT,
  duration_ms INTEGER NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);

-- Integrations that trigger jobs with signed webhooks (POST /v1/hooks/<name>), billed to account_id.
CREATE TABLE integrations (
  name TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  disabled_at INTEGER
);

-- webhook-ids received, kept well past the 5-minute timestamp tolerance: a replay is dropped.
CREATE TABLE hook_receipts (
  integration TEXT NOT NULL,
  webhook_id TEXT NOT NULL,
  job_id TEXT,
  received_at INTEGER NOT NULL,
  PRIMARY KEY (integration, webhook_id)
);

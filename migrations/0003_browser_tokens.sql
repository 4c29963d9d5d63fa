-- Short-lived browser tokens (POST /v1/tokens). Only the SHA-256 of a token is stored. A token
-- acts for the key that minted it (`key_id`: a D1 key id, or `dev:<digest>` for an API_KEYS key)
-- and dies with it: revoking the key ends its tokens at once.
CREATE TABLE browser_tokens (
  id TEXT PRIMARY KEY,
  hash TEXT NOT NULL UNIQUE,
  key_id TEXT NOT NULL,
  account_id TEXT,
  scopes TEXT NOT NULL,
  origin TEXT,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX browser_tokens_expiry ON browser_tokens(expires_at);

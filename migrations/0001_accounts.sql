-- Accounts, API keys, credits. The balance is only ever changed by ledger rows (trigger below),
-- so the ledger always sums to the balance; the CHECK makes an overdraft fail instead of happen.
CREATE TABLE accounts (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  balance INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
  -- Requests per rate-limit window for this account's keys; NULL: the RATE_LIMIT_REQUESTS var.
  rate_limit INTEGER,
  created_at INTEGER NOT NULL
);

-- Only a prefix (for lookup) and the SHA-256 of the whole key are stored: the key is shown once.
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  prefix TEXT NOT NULL UNIQUE,
  hash TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX api_keys_account ON api_keys(account_id);

-- Append-only: credits granted (delta > 0) and calls charged (delta < 0).
CREATE TABLE ledger (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  delta INTEGER NOT NULL,
  balance_after INTEGER NOT NULL,
  kind TEXT NOT NULL,
  request_id TEXT,
  note TEXT,
  created_at INTEGER NOT NULL
);
CREATE INDEX ledger_account ON ledger(account_id, id);

CREATE TRIGGER ledger_applies AFTER INSERT ON ledger
BEGIN
  UPDATE accounts SET balance = balance + NEW.delta WHERE id = NEW.account_id;
END;
CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
BEGIN
  SELECT RAISE(ABORT, 'the ledger is append-only');
END;
CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
BEGIN
  SELECT RAISE(ABORT, 'the ledger is append-only');
END;

-- Credits set aside for calls in progress: available = balance - unexpired holds. A hold is
-- settled (deleted + one ledger debit) or released (deleted) when the call ends; one left by a
-- crashed isolate stops counting at expires_at.
CREATE TABLE holds (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL REFERENCES accounts(id),
  amount INTEGER NOT NULL CHECK (amount > 0),
  expires_at INTEGER NOT NULL
);
CREATE INDEX holds_account ON holds(account_id, expires_at);

-- Idempotency-Key state per account: pending while the first request runs, then done with the
-- stored response (bytes in R2 under blob_key).
CREATE TABLE idempotency_keys (
  account_id TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending', 'done')),
  status INTEGER,
  headers TEXT,
  blob_key TEXT,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (account_id, key)
);

-- DELETE /v1/uploads/{id} claims the stored version it deletes (R2 has no conditional delete):
-- of concurrent DELETEs of one upload, the one whose insert lands answers 204, the others 404.
-- Rows are only needed while such requests overlap; each claim prunes those older than a day.
CREATE TABLE upload_deletions (
  key TEXT NOT NULL,
  version TEXT NOT NULL,
  deleted_at INTEGER NOT NULL,
  PRIMARY KEY (key, version)
);
CREATE INDEX upload_deletions_age ON upload_deletions(deleted_at);

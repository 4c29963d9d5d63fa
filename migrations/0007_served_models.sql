-- The model each inference backend was last seen serving (workers/model-info.ts): a cache key
-- needs the served model's name@version, and when the GPU function is stopped, paused or slow
-- the edge keys by what it last saw instead of waiting, so a stored result is served without
-- the GPU. Written when the edge learns the model (GET /v1/models, or an inference response).
CREATE TABLE served_models (
  backend TEXT PRIMARY KEY,
  model TEXT NOT NULL,
  seen_at INTEGER NOT NULL
);

-- Incoming webhook sources are plugins (gmcnn.config.ts, kind webhook-source): each integration
-- names the one that verifies and maps its events. Existing integrations keep Standard Webhooks.
ALTER TABLE integrations ADD COLUMN source TEXT NOT NULL DEFAULT 'standard-webhooks';

-- GET /v1/jobs pages in the total order (created_at, id), newest first: the index covers the
-- tie-break, so jobs created in the same millisecond are paged by id without a sort.
CREATE INDEX jobs_owner_page ON jobs(owner, created_at, id);
DROP INDEX jobs_owner;

-- A client's own token bucket (both columns or neither) and its token quotas per hour and per
-- day; NULL is "none": the global bucket applies, no quota. No CHECK: SQLite's DROP COLUMN
-- refuses some constrained columns, and the store writes only positive values (and refuses
-- others on reading). The quota count reads sessions_client_id_created_at_idx.
ALTER TABLE clients ADD COLUMN rate_per_second BIGINT;
ALTER TABLE clients ADD COLUMN rate_burst BIGINT;
ALTER TABLE clients ADD COLUMN quota_per_hour BIGINT;
ALTER TABLE clients ADD COLUMN quota_per_day BIGINT;

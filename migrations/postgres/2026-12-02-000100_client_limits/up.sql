-- A client's own token bucket (both columns or neither) and its token quotas per hour and per
-- day; NULL is "none": the global bucket applies, no quota. The quota count reads
-- sessions_client_id_created_at_idx.
ALTER TABLE clients ADD COLUMN rate_per_second BIGINT CHECK (rate_per_second > 0);
ALTER TABLE clients ADD COLUMN rate_burst BIGINT CHECK (rate_burst > 0);
ALTER TABLE clients ADD COLUMN quota_per_hour BIGINT CHECK (quota_per_hour > 0);
ALTER TABLE clients ADD COLUMN quota_per_day BIGINT CHECK (quota_per_day > 0);

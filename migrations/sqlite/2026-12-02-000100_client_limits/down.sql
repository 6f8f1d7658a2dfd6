ALTER TABLE clients DROP COLUMN quota_per_day;
ALTER TABLE clients DROP COLUMN quota_per_hour;
ALTER TABLE clients DROP COLUMN rate_burst;
ALTER TABLE clients DROP COLUMN rate_per_second;

-- Audit retention (`--audit-retention`): events older than the retention are deleted in
-- bounded batches, oldest first, every hour; this index finds them without reading the table.
CREATE INDEX audit_events_at ON audit_events (at);

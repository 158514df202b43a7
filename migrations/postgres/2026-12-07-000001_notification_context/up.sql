-- A message's template context (JSON) when its text and HTML bodies are rendered at delivery
-- rather than in the transaction that queues it: the booking's writes then carry only the
-- subject and this context (a few hundred bytes instead of two rendered bodies). Rows written
-- with their bodies rendered (before this column) have NULL here and are sent as stored. Like the
-- bodies, it never holds health data, and it is cleared with them once a password-reset link is
-- out.
ALTER TABLE notifications ADD COLUMN context TEXT;

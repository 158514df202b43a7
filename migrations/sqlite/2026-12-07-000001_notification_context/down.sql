ALTER TABLE notifications DROP COLUMN context;

DROP TABLE notifications;
ALTER TABLE users DROP COLUMN email_notifications;

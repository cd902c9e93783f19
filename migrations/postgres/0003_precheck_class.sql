-- Message class 'precheck' (Förhandskontroll), PostgreSQL flavour. Keep in step with
-- migrations/sqlite/0003_precheck_class.sql.

ALTER TABLE messages DROP CONSTRAINT messages_class_check;
ALTER TABLE messages ADD CONSTRAINT messages_class_check CHECK (class IN ('submission',
    'no_document','supplement','duplicate','auto_reply','bounce','mailing_list',
    'unknown_sender','needs_review','unreadable_document','unparseable','precheck'));

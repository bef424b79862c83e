-- Live resources: every statement that logs events tells listeners which of them to read, one
-- notification per project: '<project id> <first event id> <last event id>'. NOTIFY is
-- transactional (delivered at commit, in commit order), so a listener never reads an event its
-- writer rolled back, and one statement per transaction (group commit) means one notification.
CREATE FUNCTION stowage_notify_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('stowage_events', project_id::text || ' ' || min(id) || ' ' || max(id))
  FROM new_events GROUP BY project_id;
  RETURN NULL;
END
$$;

CREATE TRIGGER events_notify AFTER INSERT ON events
  REFERENCING NEW TABLE AS new_events
  FOR EACH STATEMENT EXECUTE FUNCTION stowage_notify_events();

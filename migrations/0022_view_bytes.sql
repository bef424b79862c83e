-- The bytes of workspaces' views (store/db/queries/view.ts, viewBytes), asked by every write that
-- grows a file. Sent as a statement, even a prepared one, Postgres planned it at every call (its
-- generic plan looked dearer than the custom ones): 0.3 ms a call, more than the 0.2 ms it took
-- to run. In a function whose plan is made once per connection, it is only run. The committed
-- part is the total the files triggers keep (projects.committed_bytes, migration 0017), not a sum
-- over the project's files, except for a project whose facts are kept from an archive.
CREATE FUNCTION stowage_view_bytes(p uuid, ws text[]) RETURNS TABLE (workspace text, bytes bigint)
LANGUAGE plpgsql STABLE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  RETURN QUERY
  SELECT w,
         (SELECT CASE WHEN pr.facts_kept
                   THEN (SELECT coalesce(sum(f.size), 0) FROM files f WHERE f.project_id = p)
                   ELSE pr.committed_bytes END
            FROM projects pr WHERE pr.id = p)::bigint
       - (SELECT coalesce(sum(f.size), 0) FROM drafts d
            JOIN files f ON f.project_id = d.project_id AND f.path = d.path
          WHERE d.project_id = p AND d.workspace = w)::bigint
       + (SELECT coalesce(sum(d.size), 0) FROM drafts d WHERE d.project_id = p AND d.workspace = w AND d.op = 'upsert')::bigint
  FROM unnest(ws) AS w;
END
$$;

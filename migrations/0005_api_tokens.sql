-- API tokens for the HTTP transport: who the bearer is, what it may do (scopes) and to which
-- projects (glob patterns over project names; '*' = all).
-- Only the SHA-256 of a token is stored. Tokens are 32 random bytes, so a fast unsalted hash
-- is right: there is nothing to brute-force, and a unique index on the hash is the lookup.
CREATE TABLE api_tokens (
  id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  principal    text NOT NULL,
  scopes       text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['read', 'write', 'admin']),
  projects     text[] NOT NULL CHECK (cardinality(projects) > 0),
  token_hash   text NOT NULL UNIQUE,
  created_at   timestamptz NOT NULL DEFAULT now(),
  expires_at   timestamptz,
  revoked_at   timestamptz,
  last_used_at timestamptz
);

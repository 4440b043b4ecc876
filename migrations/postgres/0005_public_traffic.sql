-- Safe for public traffic: descriptions rendered once on write; token management scoped, and
-- minted tokens tied to the token that minted them.

-- The description as sanitized HTML, rendered when the description is written (upload or
-- edit), so a read renders nothing. Rows written before this column are filled at start-up.
ALTER TABLE tickets ADD COLUMN description_html TEXT;
-- Finds those rows at once (empty after the first start-up, so it costs nothing to keep).
CREATE INDEX tickets_unrendered_idx ON tickets (seq)
    WHERE description IS NOT NULL AND description_html IS NULL;

-- The token that created this one through the API (NULL for tokens an operator made). Revoking
-- a token revokes every token it minted, and theirs.
ALTER TABLE api_tokens ADD COLUMN parent_token_id BIGINT REFERENCES api_tokens (id);
CREATE INDEX api_tokens_parent_idx ON api_tokens (parent_token_id);

-- Managing tokens is now its own scope, "tokens". Live tokens that could do everything keep
-- being able to.
UPDATE api_tokens SET scopes = scopes || '["tokens"]'::jsonb
WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
  AND scopes @> '["upload", "yank"]'::jsonb AND NOT scopes @> '["tokens"]'::jsonb;

-- Token scopes, expiry and revocation; the audit trail of operator takedowns.

-- A name the owner gives a token ("ci", "laptop"), shown in lists; never secret.
ALTER TABLE api_tokens ADD COLUMN label TEXT;
-- JSON array of what the token may do: "upload" (publish, edit own tickets), "yank" (yank and
-- unyank own tickets). Tokens made before scopes existed keep every scope.
ALTER TABLE api_tokens ADD COLUMN scopes JSONB NOT NULL DEFAULT '["upload", "yank"]';
-- After this instant the token is refused (401). NULL: it does not expire.
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;
-- When the token was revoked (refused from then on, 401); NULL while it is live.
ALTER TABLE api_tokens ADD COLUMN revoked_at TIMESTAMPTZ;
-- Last time the token authenticated a request, to the minute (writes are throttled).
ALTER TABLE api_tokens ADD COLUMN last_used_at TIMESTAMPTZ;
-- A user's tokens are listed and revoked by owner.
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- One row per ticket an operator removed for legal or abuse reasons, written in the same
-- transaction as the removal. The ticket row is gone, so nothing here references it.
CREATE TABLE takedowns (
    id                  BIGSERIAL PRIMARY KEY,
    -- The removed ticket's id, owner name, ticket name and content hash, as they were.
    ticket_id           TEXT NOT NULL,
    owner               TEXT NOT NULL,
    name                TEXT NOT NULL,
    sha256              TEXT NOT NULL,
    -- Why, in the operator's words.
    reason              TEXT NOT NULL,
    -- Who did it (the operator's name, by default their login).
    actor               TEXT NOT NULL,
    -- JSON array of the ids of tickets whose parent_id pointed at the removed ticket; their
    -- parent_id was set to NULL in the same transaction.
    detached_children   JSONB NOT NULL,
    -- The blob object released because no other ticket had the same content (its blobs row was
    -- deleted; the object itself is deleted after commit). NULL when the content is shared.
    object_key          TEXT,
    created_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX takedowns_ticket_idx ON takedowns (ticket_id);

-- partnermatch's schema for PostgreSQL, version 2: the change log that
-- servers sharing the database follow. Every write appends one entry in
-- its own transaction: what kind of write it was and the ids it wrote, so
-- a server that did not make it reads those rows again. Entries are
-- numbered by `partnermatch_head`, whose one row each write updates: the
-- row lock is held until the write commits, so numbers commit in order
-- and a follower that has applied entry n never later meets an entry
-- below n. Each commit also sends NOTIFY partnermatch_changes with its
-- number.

CREATE TABLE partnermatch_head (
    only_row BOOLEAN PRIMARY KEY DEFAULT true CHECK (only_row),
    sequence BIGINT NOT NULL
);

INSERT INTO partnermatch_head (sequence) VALUES (0);

CREATE TABLE partnermatch_changes (
    sequence BIGINT PRIMARY KEY,
    -- 'schools' (created or updated), 'school_deleted' or 'partnership'
    -- (proposed or updated).
    kind     TEXT NOT NULL CHECK (kind IN ('schools', 'school_deleted', 'partnership')),
    ids      TEXT[] NOT NULL,
    -- When the writing transaction began.
    written_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- partnermatch's schema for PostgreSQL, version 1: the registry as the
-- SQLite migrations 0001–0004 leave it, in PostgreSQL's types. The tables'
-- code is shared with SQLite, so the columns are the same: closed sets by
-- their lower-case names (phase 'primary', focus areas 'literacy,numeracy'),
-- dates as YYYY-MM-DD text, times as RFC 3339 UTC text (nanoseconds kept,
-- which timestamptz would round to microseconds), NULL for unknown.

CREATE TABLE schools (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    phase               TEXT NOT NULL,
    stage               TEXT,
    language_medium     TEXT,
    latitude            DOUBLE PRECISION NOT NULL,
    longitude           DOUBLE PRECISION NOT NULL,
    local_authority     TEXT NOT NULL,
    consortium          TEXT NOT NULL,
    pupils              BIGINT,
    fsm_percent         DOUBLE PRECISION,
    deprivation_percent DOUBLE PRECISION,
    aln_percent         DOUBLE PRECISION,
    eal_percent         DOUBLE PRECISION,
    family_id           TEXT,
    strengths           TEXT NOT NULL,
    needs               TEXT NOT NULL,
    capacity            BIGINT,
    religious_character TEXT NOT NULL,
    open                BOOLEAN NOT NULL,
    -- The bodies a school belongs to: NULL code, no such body (the name is
    -- NULL too).
    trust_code          TEXT,
    trust_name          TEXT,
    federation_code     TEXT,
    federation_name     TEXT,
    diocese_code        TEXT,
    diocese_name        TEXT
);

-- Inspection and local judgements of each school, replaced whole when the
-- school is written and deleted with it.
CREATE TABLE evaluations (
    school_id TEXT NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    position  BIGINT NOT NULL,
    framework TEXT NOT NULL,
    area      TEXT NOT NULL,
    judgement TEXT NOT NULL,
    date      TEXT NOT NULL,
    source    TEXT NOT NULL,
    PRIMARY KEY (school_id, position)
);

-- Partnerships and their lifecycle, with the aide-memoire fields and the
-- impact rating; `version` is the optimistic-concurrency version.
CREATE TABLE partnerships (
    id                   TEXT PRIMARY KEY,
    kind                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    focus                TEXT NOT NULL,
    identified_need      TEXT NOT NULL,
    strategic_objectives TEXT NOT NULL,
    provision            TEXT NOT NULL,
    action_plan          TEXT NOT NULL,
    success_criteria     TEXT NOT NULL,
    review_date          TEXT,
    impact_rating        TEXT,
    impact_notes         TEXT NOT NULL,
    version              BIGINT NOT NULL CHECK (version >= 1),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    started_at           TEXT,
    finished_at          TEXT
);

-- Members never change once proposed; a school in a partnership cannot be
-- deleted (the engine refuses), so members always name a school.
CREATE TABLE partnership_members (
    partnership_id TEXT NOT NULL REFERENCES partnerships (id),
    position       BIGINT NOT NULL,
    school_id      TEXT NOT NULL REFERENCES schools (id),
    role           TEXT NOT NULL,
    PRIMARY KEY (partnership_id, position)
);

CREATE INDEX partnership_members_by_school ON partnership_members (school_id);

-- partnermatch schema, version 2: partnerships between schools and their
-- lifecycle (proposed → agreed → active → completed, or ended), with the
-- aide-memoire fields (need, objectives, provision, action plan, success
-- criteria, review date) and the impact rating. Times are RFC 3339 UTC
-- timestamps; dates are YYYY-MM-DD; closed sets are stored by name.
CREATE TABLE partnerships (
    id                   TEXT PRIMARY KEY NOT NULL,
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
    version              INTEGER NOT NULL CHECK (version >= 1),
    created_at           TEXT NOT NULL,
    updated_at           TEXT NOT NULL,
    started_at           TEXT,
    finished_at          TEXT
) STRICT;

-- Members never change once proposed. A school in a partnership cannot be
-- deleted (the engine refuses), so members always name a school.
CREATE TABLE partnership_members (
    partnership_id TEXT NOT NULL REFERENCES partnerships (id),
    position       INTEGER NOT NULL,
    school_id      TEXT NOT NULL REFERENCES schools (id),
    role           TEXT NOT NULL,
    PRIMARY KEY (partnership_id, position)
) STRICT;

CREATE INDEX partnership_members_by_school ON partnership_members (school_id);

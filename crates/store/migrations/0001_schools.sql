-- partnermatch schema, version 1: the school registry.
-- One row per school, as the client described it; derived values (index of
-- challenge, computed family, default capacity) are recomputed at start-up.
-- Closed sets are stored by their lower-case names (phase 'primary', stage
-- 'amber', focus areas 'literacy,numeracy'); NULL means unknown.
CREATE TABLE schools (
    id                  TEXT PRIMARY KEY NOT NULL,
    name                TEXT NOT NULL,
    phase               TEXT NOT NULL,
    stage               TEXT,
    language_medium     TEXT,
    latitude            REAL NOT NULL,
    longitude           REAL NOT NULL,
    local_authority     TEXT NOT NULL,
    consortium          TEXT NOT NULL,
    pupils              INTEGER,
    fsm_percent         REAL,
    deprivation_percent REAL,
    aln_percent         REAL,
    eal_percent         REAL,
    family_id           TEXT,
    strengths           TEXT NOT NULL,
    needs               TEXT NOT NULL,
    capacity            INTEGER,
    religious_character TEXT NOT NULL,
    open                INTEGER NOT NULL CHECK (open IN (0, 1))
) STRICT;

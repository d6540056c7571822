-- partnermatch schema, version 5: the registry version, the number of
-- writes the database holds (counted from this version of the schema), in
-- one row each write updates in its transaction. It survives restarts, so
-- a client that asks for at least the version a write answered with is
-- answered after a restart too. (PostgreSQL numbers its change log in a
-- table of the same name.)
CREATE TABLE partnermatch_head (
    only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
    sequence INTEGER NOT NULL
);

INSERT INTO partnermatch_head (only_row, sequence) VALUES (1, 0);

-- partnermatch schema, version 3: inspection and local judgements of each
-- school (framework, area, judgement, date, source), from which the engine
-- derives the stage, strengths and needs a school does not give. Closed
-- sets by name; dates YYYY-MM-DD. A school's evaluations are replaced
-- whole when the school is written, and go with it when it is deleted.
CREATE TABLE evaluations (
    school_id TEXT NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    framework TEXT NOT NULL,
    area      TEXT NOT NULL,
    judgement TEXT NOT NULL,
    date      TEXT NOT NULL,
    source    TEXT NOT NULL,
    PRIMARY KEY (school_id, position)
) STRICT;

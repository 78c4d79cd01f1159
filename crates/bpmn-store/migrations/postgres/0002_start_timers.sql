-- The next due time of each timer start event of the latest version of a definition, shared by
-- the engines on the database. `due` is nanoseconds since the Unix epoch (UTC); `repeat` is how
-- a cycle goes on after it (JSON), NULL for a one-off timer.
CREATE TABLE bpmn_start_timers (
    definition_key     TEXT    NOT NULL,
    definition_version INTEGER NOT NULL,
    element_id         TEXT    NOT NULL,
    due                BIGINT  NOT NULL,
    repeat             TEXT,
    PRIMARY KEY (definition_key, element_id)
);

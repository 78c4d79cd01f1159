-- Every version of every resource, append-only except for the `current` flag.
-- A delete is a row of its own (deleted = 1, no body) one version above the last.
CREATE TABLE resources (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    res_type     TEXT    NOT NULL,
    res_id       TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_updated INTEGER NOT NULL, -- microseconds since the Unix epoch
    deleted      INTEGER NOT NULL DEFAULT 0,
    current      INTEGER NOT NULL DEFAULT 1,
    body         TEXT,
    data         BLOB              -- Binary content, kept out of the JSON body
);
CREATE UNIQUE INDEX resources_version ON resources (res_type, res_id, version);
CREATE INDEX resources_current ON resources (res_type, res_id) WHERE current = 1;
CREATE INDEX resources_type_updated ON resources (res_type, last_updated) WHERE current = 1 AND deleted = 0;
CREATE INDEX resources_updated ON resources (last_updated);

-- Search index rows of the current, non-deleted version of each resource. `seq` is that version's
-- row in `resources`, so a search finds matching versions without touching their bodies.
CREATE TABLE search_params (
    seq      INTEGER NOT NULL,
    res_type TEXT    NOT NULL,
    param    TEXT    NOT NULL,
    sys      TEXT,   -- token system, reference target type
    val      TEXT,   -- token code, normalised string, uri, reference target id
    raw      TEXT,   -- the value as written (string :exact, literal reference)
    lo       INTEGER, -- date range start, inclusive, microseconds
    hi       INTEGER  -- date range end, exclusive, microseconds
);
CREATE INDEX search_params_val ON search_params (res_type, param, val, seq);
CREATE INDEX search_params_date ON search_params (res_type, param, lo);
CREATE INDEX search_params_seq ON search_params (seq);

-- Deployed process definitions: one row per key and engine version.
CREATE TABLE bpmn_definitions (
    definition_key     TEXT    NOT NULL,
    definition_version INTEGER NOT NULL,
    version_tag        TEXT,
    xml                TEXT    NOT NULL,
    PRIMARY KEY (definition_key, definition_version)
);

-- Process instances: the serialized instance (`data`, JSON) and the columns the engine queries.
-- Times are nanoseconds since the Unix epoch (UTC). `revision` counts commits (optimistic
-- locking); `lease_owner`/`lease_until` mark the engine that acquired a due instance.
CREATE TABLE bpmn_instances (
    id                 TEXT    PRIMARY KEY,
    definition_key     TEXT    NOT NULL,
    definition_version INTEGER NOT NULL,
    business_key       TEXT,
    state              TEXT    NOT NULL,
    delete_reason      TEXT,
    next_due           BIGINT,
    revision           BIGINT  NOT NULL,
    lease_owner        TEXT,
    lease_until        BIGINT,
    data               BLOB    NOT NULL
);

CREATE INDEX bpmn_instances_business_key ON bpmn_instances (business_key)
    WHERE state IN ('active', 'suspended');
CREATE INDEX bpmn_instances_due ON bpmn_instances (next_due) WHERE state = 'active';
CREATE INDEX bpmn_instances_unfinished ON bpmn_instances (state)
    WHERE state IN ('active', 'suspended');

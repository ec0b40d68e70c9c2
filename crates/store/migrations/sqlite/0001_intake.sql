-- Alert intake: incidents, the alert instances they group, and every delivery as received.

CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    status       TEXT    NOT NULL CHECK (status IN ('open', 'mitigated', 'resolved', 'escalated')),
    title        TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    group_key    TEXT    NOT NULL,
    environment  TEXT    NOT NULL,
    cluster      TEXT,
    namespace    TEXT,
    service      TEXT,
    severity     TEXT    NOT NULL,
    labels       TEXT    NOT NULL,             -- JSON object
    started_at   TEXT    NOT NULL,
    detected_at  TEXT    NOT NULL,
    updated_at   TEXT    NOT NULL,
    resolved_at  TEXT
);

-- The open incident of a group is looked up on every delivery.
CREATE INDEX incidents_open_group ON incidents (source, group_key) WHERE status <> 'resolved';
CREATE INDEX incidents_status ON incidents (status, id);

CREATE TABLE alerts (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id    INTEGER NOT NULL REFERENCES incidents (id),
    source         TEXT    NOT NULL,
    fingerprint    TEXT    NOT NULL,
    starts_at      TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('firing', 'resolved')),
    labels         TEXT    NOT NULL,           -- JSON object
    annotations    TEXT    NOT NULL,           -- JSON object
    ends_at        TEXT,
    generator_url  TEXT,
    first_seen_at  TEXT    NOT NULL,
    last_seen_at   TEXT    NOT NULL,
    deliveries     INTEGER NOT NULL DEFAULT 1,
    -- An alert instance is its label fingerprint plus the time it started firing.
    UNIQUE (source, fingerprint, starts_at)
);

CREATE INDEX alerts_incident ON alerts (incident_id);
CREATE INDEX alerts_fingerprint ON alerts (source, fingerprint);

-- Every accepted delivery, byte for byte as parsed, for audit and replay.
CREATE TABLE deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    source       TEXT    NOT NULL,
    group_key    TEXT    NOT NULL,
    received_at  TEXT    NOT NULL,
    payload      TEXT    NOT NULL
);

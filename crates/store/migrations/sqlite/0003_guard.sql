-- The guard's memory: the hash-chained audit log, the ledger of writes that
-- quotas and budgets count, approvals, and switches (kill switch, revocations).

CREATE TABLE audit (
    seq          INTEGER PRIMARY KEY,
    at           TEXT    NOT NULL,
    identity     TEXT    NOT NULL,
    incident_id  INTEGER,
    kind         TEXT    NOT NULL,
    body         TEXT    NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL
);
CREATE INDEX audit_incident ON audit (incident_id, seq);

CREATE TABLE guard_actions (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    key             TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    target          TEXT    NOT NULL,   -- JSON
    service         TEXT,
    environment     TEXT    NOT NULL,
    incident_id     INTEGER,
    at              TEXT    NOT NULL,
    replicas_added  INTEGER NOT NULL DEFAULT 0,
    cpu_added       REAL    NOT NULL DEFAULT 0,
    memory_added    REAL    NOT NULL DEFAULT 0,
    identity        TEXT    NOT NULL
);
CREATE INDEX guard_actions_at ON guard_actions (at);

CREATE TABLE approvals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at   TEXT    NOT NULL,
    deadline     TEXT    NOT NULL,
    incident_id  INTEGER,
    request      TEXT    NOT NULL,      -- JSON
    scope        TEXT    NOT NULL,      -- JSON
    approvers    TEXT    NOT NULL,      -- JSON
    why          TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    decided_by   TEXT,
    decided_at   TEXT,
    reason       TEXT
);

CREATE TABLE guard_flags (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- Investigations: each trace with its outcome, per incident.

CREATE TABLE investigations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id  INTEGER REFERENCES incidents (id),
    started_at   TEXT    NOT NULL,
    reasoner     TEXT    NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('diagnosed', 'escalated')),
    category     TEXT,
    body         TEXT    NOT NULL              -- the whole Investigation as JSON
);

CREATE INDEX investigations_incident ON investigations (incident_id, id);

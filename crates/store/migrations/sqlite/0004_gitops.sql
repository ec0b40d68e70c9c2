-- Pull requests: the permanent fixes pagerless proposed, tracked to their
-- fate whatever the forge; and the local forge's own pull requests. Both keep
-- the whole record as JSON beside the columns that are searched on.

CREATE TABLE pull_requests (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    root_key    TEXT    NOT NULL,
    fate        TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL,
    body        TEXT    NOT NULL     -- JSON: pagerless_model::PullRequest
);
CREATE INDEX pull_requests_root ON pull_requests (root_key, fate);

CREATE TABLE local_forge (
    number      INTEGER PRIMARY KEY AUTOINCREMENT,
    body        TEXT    NOT NULL     -- JSON: pagerless_model::LocalPullRequest
);

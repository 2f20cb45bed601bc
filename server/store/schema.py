"""The SSM database schema, one script per version (``PRAGMA user_version`` counts them).

Times are INTEGER epoch seconds of domain time. Never add ``DEFAULT CURRENT_TIMESTAMP``: it is
a hidden wall clock.
"""

from __future__ import annotations

V1 = """
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY,
    domain TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    export_control_allowed INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE TABLE virtual_accounts (
    id INTEGER PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    is_default INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (account_id, name)
);
CREATE TABLE licenses (
    id INTEGER PRIMARY KEY,
    virtual_account_id INTEGER NOT NULL REFERENCES virtual_accounts(id),
    name TEXT NOT NULL,
    license_type TEXT NOT NULL,
    usage_mode TEXT NOT NULL,
    tag TEXT NOT NULL,
    quantity INTEGER NOT NULL CHECK (quantity >= 0),
    -- the pool's compliance state (shared.compliance.PoolState)
    in_use INTEGER NOT NULL DEFAULT 0,
    last_interval INTEGER,
    interval_over INTEGER NOT NULL DEFAULT 0,
    count_before INTEGER NOT NULL DEFAULT 0,
    ooc_since INTEGER,
    enforcement_notified INTEGER NOT NULL DEFAULT 0,
    UNIQUE (virtual_account_id, tag)
);
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    virtual_account_id INTEGER NOT NULL REFERENCES virtual_accounts(id),
    secret_hash TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses INTEGER,
    uses INTEGER NOT NULL DEFAULT 0,
    export_controlled INTEGER NOT NULL,
    revoked_at INTEGER,
    created_by TEXT NOT NULL DEFAULT 'ssm-server'
);
CREATE TABLE instances (
    piid TEXT PRIMARY KEY,
    virtual_account_id INTEGER NOT NULL REFERENCES virtual_accounts(id),
    name TEXT NOT NULL,
    product TEXT NOT NULL,
    udi_pid TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    hostname TEXT NOT NULL,
    deployment_type TEXT NOT NULL,
    license_type TEXT NOT NULL,
    usage_mode TEXT NOT NULL,
    software_version TEXT NOT NULL DEFAULT '',
    export_controlled INTEGER NOT NULL,
    token_id TEXT,
    public_key BLOB NOT NULL,
    cert_pem TEXT NOT NULL,
    cert_serial TEXT NOT NULL,
    registered_at INTEGER NOT NULL,
    cert_issued_at INTEGER NOT NULL,
    cert_expires_at INTEGER NOT NULL,
    authorized_at INTEGER,
    last_contact_at INTEGER NOT NULL,
    removed_at INTEGER,
    removed_reason TEXT,
    -- the key of the previous ID certificate, accepted until the new one is first used
    -- (a renewal whose reply was lost must not lock the instance out)
    prev_public_key BLOB,
    status TEXT NOT NULL DEFAULT 'Unauthorized',
    ooc_since INTEGER,
    renew_alerted_at INTEGER,
    -- the next instant the SSM's watch must look at this instance (see shared.watch)
    next_check_at INTEGER
);
CREATE UNIQUE INDEX instances_sudi ON instances (udi_pid, serial_number) WHERE removed_at IS NULL;
CREATE INDEX instances_va ON instances (virtual_account_id);
CREATE INDEX instances_listing ON instances (registered_at, piid) WHERE removed_at IS NULL;
CREATE INDEX instances_next_check ON instances (next_check_at) WHERE removed_at IS NULL;
CREATE TABLE usage_reports (
    report_id TEXT PRIMARY KEY,
    piid TEXT NOT NULL,
    interval_start INTEGER NOT NULL,
    interval_end INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    lines TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX usage_reports_piid ON usage_reports (piid, interval_end);
CREATE TABLE usage_latest (
    piid TEXT NOT NULL,
    tag TEXT NOT NULL,
    virtual_account_id INTEGER NOT NULL,
    interval_end INTEGER NOT NULL,
    peak INTEGER NOT NULL,
    locked INTEGER,
    PRIMARY KEY (piid, tag)
) WITHOUT ROWID;
CREATE INDEX usage_latest_pool ON usage_latest (virtual_account_id, tag);
CREATE TABLE satellites (
    piid TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL DEFAULT 0,
    last_sync INTEGER NOT NULL,
    alerted TEXT NOT NULL DEFAULT '[]',
    next_check INTEGER
) WITHOUT ROWID;
CREATE TABLE satellite_instances (
    satellite TEXT NOT NULL,
    piid TEXT NOT NULL,
    name TEXT NOT NULL,
    product TEXT NOT NULL,
    udi_pid TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    virtual_account TEXT NOT NULL,
    status TEXT NOT NULL,
    last_contact_at INTEGER NOT NULL,
    PRIMARY KEY (satellite, piid)
) WITHOUT ROWID;
CREATE TABLE nonces (
    piid TEXT NOT NULL,
    nonce TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    PRIMARY KEY (piid, nonce)
) WITHOUT ROWID;
CREATE INDEX nonces_sent_at ON nonces (sent_at);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    virtual_account_id INTEGER,
    piid TEXT,
    message TEXT NOT NULL
);
CREATE INDEX events_at ON events (at);
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    kind TEXT NOT NULL,
    severity TEXT NOT NULL,
    virtual_account_id INTEGER,
    piid TEXT,
    subject TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX notifications_at ON notifications (at);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
"""

#: The admin API (issue 7): API clients of the OAuth2 token endpoints, Specific License
#: Reservations, and the reserved quantity of each pool (counted against it).
V2 = """
ALTER TABLE licenses ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0 CHECK (reserved >= 0);
CREATE TABLE api_clients (
    client_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    last_token_at INTEGER
) WITHOUT ROWID;
CREATE TABLE reservations (
    id INTEGER PRIMARY KEY,
    virtual_account_id INTEGER NOT NULL REFERENCES virtual_accounts(id),
    request_code TEXT NOT NULL,
    udi_pid TEXT NOT NULL,
    serial_number TEXT NOT NULL,
    -- JSON: [{"tag", "name", "count", "license_type"}]
    licenses TEXT NOT NULL,
    authorization_code TEXT NOT NULL,
    confirmation_code TEXT NOT NULL,
    return_code TEXT NOT NULL,
    -- 'Reserved' (waiting for the confirmation code), 'Confirmed', 'Returned', 'Replaced' (by an update)
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    confirmed_at INTEGER,
    returned_at INTEGER
);
CREATE UNIQUE INDEX reservations_sudi ON reservations (udi_pid, serial_number) WHERE returned_at IS NULL;
CREATE INDEX reservations_va ON reservations (virtual_account_id)
"""

#: The pure ledger (``shared.ledger``) keeps each pool's actual usage (the sum of the peaks) beside
#: its reported usage, so that releasing the locks needs no sum over the pool's lines.
V3 = """
ALTER TABLE licenses ADD COLUMN actual INTEGER NOT NULL DEFAULT 0;
UPDATE licenses SET actual = COALESCE((
    SELECT SUM(u.peak) FROM usage_latest u JOIN instances i ON i.piid = u.piid AND i.removed_at IS NULL
    WHERE u.virtual_account_id = licenses.virtual_account_id AND u.tag = licenses.tag), 0)
"""

#: The portal's chart of usage against purchased (issue 17): each pool's (in use, purchased) at the
#: domain instants its books changed, one row per change (``Pools.save_state`` appends it).
V4 = """
CREATE TABLE pool_history (
    id INTEGER PRIMARY KEY,
    license_id INTEGER NOT NULL REFERENCES licenses(id),
    at INTEGER NOT NULL,
    in_use INTEGER NOT NULL,
    purchased INTEGER NOT NULL
);
CREATE INDEX pool_history_license ON pool_history (license_id, at)
"""

#: Each event's real-time stamp (``shared.clock.real_stamp``): the lab's timeline merges the SSM's
#: and the agent's events of one domain instant in the order they happened (cause before effect).
V5 = """
ALTER TABLE events ADD COLUMN recorded_ns INTEGER
"""

#: The domain instant each pool's first licenses were purchased (the admin API's start dates and
#: subscriptions, issue 18); a pool bought before this migration dates from its virtual account.
#: A reservation's kind: 'SPECIFIC' (SLR) or 'UNIVERSAL' (PLR, which holds no licenses).
V6 = """
ALTER TABLE licenses ADD COLUMN purchased_at INTEGER;
UPDATE licenses SET purchased_at = (
    SELECT v.created_at FROM virtual_accounts v WHERE v.id = licenses.virtual_account_id) WHERE quantity > 0;
ALTER TABLE reservations ADD COLUMN kind TEXT NOT NULL DEFAULT 'SPECIFIC'
"""

#: Flex subscription terms (issue 21, ``shared.terms``): a purchase with a term is a lot of the pool
#: that leaves it at ``ends_at`` (midnight UTC after its end date); ``alerted`` is the nearest
#: "Licenses Expiring" alert sent (90, 60, 30 days before), ``next_check_at`` when the SSM's watch
#: looks at it again. Licenses bought without a term have no row (they stay). The License
#: Consumption report reads the stored reports by period.
V7 = """
CREATE TABLE license_terms (
    id INTEGER PRIMARY KEY,
    license_id INTEGER NOT NULL REFERENCES licenses(id),
    subscription_id TEXT NOT NULL UNIQUE,
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    starts_at INTEGER NOT NULL,
    ends_at INTEGER NOT NULL,
    alerted INTEGER,
    renewed_at INTEGER,
    expired_at INTEGER,
    next_check_at INTEGER
);
CREATE INDEX license_terms_license ON license_terms (license_id);
CREATE INDEX license_terms_next_check ON license_terms (next_check_at);
CREATE INDEX usage_reports_end ON usage_reports (interval_end)
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5, V6, V7)

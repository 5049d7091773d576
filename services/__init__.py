"""The runtime the three dealreg services share.

- ``settings``: typed ``DEALREG_*`` settings, grouped by concern, validated at start-up.
- ``clock``: time as a port (``Clock``), so windows and SLAs are testable in seconds.
- ``db``: the async SQLAlchemy engine and sessions (SQLite embedded, PostgreSQL for real).
- ``outbox`` / ``inbox``: never dual-write. Events commit with the state change that caused
  them and are relayed to Kafka afterwards; a consumer records each event it applied in the
  same transaction as its effects.
- ``retention``: prunes old inbox, outbox and other bookkeeping rows on a schedule.
- ``kafka``: the idempotent producer, at-least-once consumers with a dead-letter topic, and
  topic creation.
- ``http``: problem+json errors (a database away is 503 + Retry-After), health/readiness/
  metrics, bearer-token helpers.
- ``logging``: structured JSON logs carrying the correlation id.
- ``runtime``: wires those into one FastAPI lifespan per process.
"""

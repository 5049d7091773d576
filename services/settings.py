"""Typed settings read from ``DEALREG_*`` environment variables, validated at start-up.

Each group has its own prefix so a variable's name says what it configures, e.g.
``DEALREG_KAFKA_BOOTSTRAP_SERVERS`` or ``DEALREG_DATABASE_URL``. Every process reads only its
own groups; nothing is read at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "dev", "admin", "secret"}


class KafkaSettings(BaseSettings):
    """The brokers and how to reach them (``DEALREG_KAFKA_*``); see docs/kafka-security.md.

    Production refuses PLAINTEXT (anyone who can reach the brokers could then mint an ops key
    on ``dealreg.principals``) unless ``DEALREG_KAFKA_ALLOW_PLAINTEXT=true`` says the network
    is trusted on purpose.
    """

    model_config = SettingsConfigDict(env_prefix="DEALREG_KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    topic_prefix: str = Field(
        default="",
        description="Prepended to every topic and consumer group: one broker, several stacks.",
    )
    client_id_prefix: str = "dealreg"
    consumer_retry_initial_seconds: float = Field(
        default=0.2,
        gt=0,
        description="First wait before a record that failed transiently is retried.",
    )
    consumer_retry_max_seconds: float = Field(
        default=30.0,
        gt=0,
        description="Cap of the backoff between retries. A transient failure is retried without "
        "limit (the partition waits at the record); only bad data goes to the dead-letter topic.",
    )
    create_topics: bool = True
    replication_factor: int = Field(
        default=1, ge=1, description="Of the topics the services create: 3 on a real cluster."
    )
    min_insync_replicas: int = Field(
        default=1,
        ge=1,
        description="Topic config `min.insync.replicas`: with acks=all, how many replicas must "
        "hold a record before it counts as written (2 on a three-broker cluster).",
    )
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: str | None = Field(
        default=None, description="PEM bundle of the CAs that sign the brokers' certificates."
    )
    ssl_certfile: str | None = Field(default=None, description="Client certificate (mutual TLS).")
    ssl_keyfile: str | None = Field(default=None, description="Its private key.")
    allow_plaintext: bool = Field(
        default=False, description="Allow PLAINTEXT in production (a trusted network on purpose)."
    )
    env: Environment = Field(
        default="development",
        validation_alias="DEALREG_ENV",
        description="The same DEALREG_ENV as the service's (read here for the PLAINTEXT rule).",
    )

    @model_validator(mode="after")
    def _secure_in_production(self) -> KafkaSettings:
        plaintext = self.security_protocol == "PLAINTEXT"
        if self.env == "production" and plaintext and not self.allow_plaintext:
            raise ValueError(
                "DEALREG_KAFKA_SECURITY_PROTOCOL=PLAINTEXT in production: set SASL_SSL (or "
                "SSL), or DEALREG_KAFKA_ALLOW_PLAINTEXT=true for a trusted network"
            )
        if self.security_protocol.startswith("SASL_") and not (
            self.sasl_username and self.sasl_password
        ):
            raise ValueError(
                f"{self.security_protocol} needs DEALREG_KAFKA_SASL_USERNAME and _SASL_PASSWORD"
            )
        return self


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEALREG_DATABASE_", extra="ignore")

    url: str = Field(description="SQLAlchemy async URL (sqlite+aiosqlite or postgresql+asyncpg).")
    echo: bool = False
    connect_timeout_seconds: float = Field(default=5, gt=0, description="Opening a connection.")
    pool_timeout_seconds: float = Field(
        default=30,
        gt=0,
        description="Waiting for a free pooled connection (a burst queues; starvation fails).",
    )
    statement_timeout_seconds: float = Field(
        default=15, gt=0, description="One statement (PostgreSQL), past which it is cancelled."
    )
    sqlite_busy_timeout_seconds: float = Field(
        default=10, gt=0, description="A SQLite writer queueing for the write lock."
    )


class OutboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEALREG_OUTBOX_", extra="ignore")

    poll_interval_seconds: float = Field(default=0.2, gt=0)
    batch_size: int = Field(default=200, ge=1)
    max_unpublished_age_seconds: float = Field(
        default=30,
        gt=0,
        description="Not ready when the oldest unpublished event has waited longer than this.",
    )


class HealthSettings(BaseSettings):
    """Bounds of the ``/readyz`` probes (``DEALREG_HEALTH_*``): a fault shows within seconds."""

    model_config = SettingsConfigDict(env_prefix="DEALREG_HEALTH_", extra="ignore")

    probe_timeout_seconds: float = Field(
        default=2, gt=0, description="Each probe (SELECT 1, the brokers' metadata) at most."
    )
    kafka_cache_seconds: float = Field(
        default=1.5, ge=0, description="How long one answer of the broker probe is reused."
    )


class RetentionSettings(BaseSettings):
    """How long bookkeeping rows are kept (``DEALREG_RETENTION_*``), pruned in small batches.

    Each lifetime covers the window in which its row still matters: an inbox row must outlive
    any redelivery of its event (relay republish, rebalance, restart, and a consumer group
    idle past the brokers' ``offsets.retention.minutes``, 7 days by default, which restarts
    from the earliest offset), an idempotency record the retry promise of API.md (at least
    24 hours).
    """

    model_config = SettingsConfigDict(env_prefix="DEALREG_RETENTION_", extra="ignore")

    interval_seconds: float = Field(default=3600, gt=0, description="Between two prune runs.")
    batch_size: int = Field(default=500, ge=1, description="Rows deleted per transaction.")
    inbox_days: float = Field(default=14, ge=1)
    outbox_published_days: float = Field(default=7, ge=1)
    idempotency_hours: float = Field(default=48, ge=24)
    webhook_deliveries_days: float = Field(default=30, ge=1)
    crm_webhook_dedup_days: float = Field(default=14, ge=1)


class SecuritySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEALREG_", extra="ignore")

    env: Environment = "development"
    admin_token: SecretStr = Field(description="Bearer token of the built-in admin.")

    @model_validator(mode="after")
    def _refuse_placeholder_outside_development(self) -> SecuritySettings:
        token = self.admin_token.get_secret_value()
        if self.env == "production" and (token.lower() in _PLACEHOLDER_SECRETS or len(token) < 24):
            raise ValueError("DEALREG_ADMIN_TOKEN must be a real secret (24+ chars) in production")
        return self


class ServiceSettings(BaseSettings):
    """What every service process needs; services subclass it to add their own groups."""

    model_config = SettingsConfigDict(env_prefix="DEALREG_", extra="ignore")

    service_name: str = "dealreg"
    log_level: str = "INFO"
    log_json: bool = True
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)

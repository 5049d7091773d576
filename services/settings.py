"""Typed settings read from ``DEALREG_*`` environment variables, validated at start-up.

Each group has its own prefix so a variable's name says what it configures, e.g.
``DEALREG_KAFKA_BOOTSTRAP_SERVERS`` or ``DEALREG_DATABASE_URL``. Every process reads only its
own groups; nothing is read at import time.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.admin_token import PreviousAdminToken

Environment = Literal["development", "test", "production"]
SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"]
_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "dev", "admin", "secret"}
# Bind addresses that listen on every interface (uvicorn's and Python's spellings).
ALL_INTERFACES = frozenset({"0.0.0.0", "::", "[::]", "", "*"})  # noqa: S104 (we detect it)


def weak_secret(value: str) -> bool:
    """A placeholder, or too short to be a generated secret."""
    return value.lower() in _PLACEHOLDER_SECRETS or len(value) < 24


class KafkaSettings(BaseSettings):
    """The brokers and how to reach them (``DEALREG_KAFKA_*``); see docs/kafka-security.md.

    Production refuses PLAINTEXT (anyone who can reach the brokers could then mint an ops key
    on ``dealreg.principals``) unless ``DEALREG_KAFKA_ALLOW_PLAINTEXT=true`` says the network
    is trusted on purpose.
    """

    model_config = SettingsConfigDict(
        env_prefix="DEALREG_KAFKA_", extra="ignore", hide_input_in_errors=True
    )

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
    group_instance_id: str | None = Field(
        default=None,
        description="Static consumer group membership: a name unique to this instance that "
        "survives its restarts (on Kubernetes the pod's name). A restarted member gets its "
        "partitions back without a rebalance if it returns within the session timeout.",
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
    model_config = SettingsConfigDict(
        env_prefix="DEALREG_DATABASE_", extra="ignore", hide_input_in_errors=True
    )

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
    model_config = SettingsConfigDict(
        env_prefix="DEALREG_OUTBOX_", extra="ignore", hide_input_in_errors=True
    )

    poll_interval_seconds: float = Field(default=0.2, gt=0)
    batch_size: int = Field(default=200, ge=1)
    max_unpublished_age_seconds: float = Field(
        default=30,
        gt=0,
        description="Not ready when the oldest unpublished event has waited longer than this.",
    )


class HealthSettings(BaseSettings):
    """Bounds of the ``/readyz`` probes (``DEALREG_HEALTH_*``): a fault shows within seconds."""

    model_config = SettingsConfigDict(
        env_prefix="DEALREG_HEALTH_", extra="ignore", hide_input_in_errors=True
    )

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

    model_config = SettingsConfigDict(
        env_prefix="DEALREG_RETENTION_", extra="ignore", hide_input_in_errors=True
    )

    interval_seconds: float = Field(default=3600, gt=0, description="Between two prune runs.")
    batch_size: int = Field(default=500, ge=1, description="Rows deleted per transaction.")
    inbox_days: float = Field(default=14, ge=1)
    outbox_published_days: float = Field(default=7, ge=1)
    idempotency_hours: float = Field(default=48, ge=24)
    webhook_deliveries_days: float = Field(default=30, ge=1)
    crm_webhook_dedup_days: float = Field(default=14, ge=1)
    match_decisions_days: float = Field(
        default=365,
        ge=30,
        description="Ops' decisions on possible duplicates, which the review band is "
        "calibrated from (conflict_resolver).",
    )


class SecuritySettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="DEALREG_", extra="ignore", hide_input_in_errors=True
    )

    env: Environment = "development"
    admin_token: SecretStr = Field(description="Bearer token of the built-in admin.")
    admin_token_previous_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="SHA-256 (hex) of the admin token before a rotation: still accepted until "
        "DEALREG_ADMIN_TOKEN_PREVIOUS_UNTIL (`dealreg keys rotate admin-token`).",
    )
    admin_token_previous_until: AwareDatetime | None = Field(
        default=None, description="When the previous admin token stops working (ISO 8601)."
    )

    @model_validator(mode="after")
    def _refuse_placeholder_outside_development(self) -> SecuritySettings:
        token = self.admin_token.get_secret_value()
        if self.env == "production" and weak_secret(token):
            raise ValueError("DEALREG_ADMIN_TOKEN must be a real secret (24+ chars) in production")
        if (self.admin_token_previous_sha256 is None) != (self.admin_token_previous_until is None):
            raise ValueError(
                "DEALREG_ADMIN_TOKEN_PREVIOUS_SHA256 and DEALREG_ADMIN_TOKEN_PREVIOUS_UNTIL "
                "go together"
            )
        return self

    @property
    def previous_admin_token(self) -> PreviousAdminToken | None:
        """The rotated-out admin token still in its overlap, if one is configured."""
        if self.admin_token_previous_sha256 is None or self.admin_token_previous_until is None:
            return None
        return PreviousAdminToken(
            sha256=self.admin_token_previous_sha256, until=self.admin_token_previous_until
        )


class HttpSettings(BaseSettings):
    """The HTTP listener and what it shows besides the API (``DEALREG_HTTP_*``).

    ``/docs``, ``/redoc``, ``/openapi.json`` and ``/metrics`` are on by default in development
    and test, off in production: ``/metrics`` carries partner-sourced pipeline and approval
    figures. In production Prometheus scrapes with ``DEALREG_HTTP_METRICS_TOKEN`` as its bearer
    token (setting one turns ``/metrics`` on, behind it, in every environment).
    """

    model_config = SettingsConfigDict(
        env_prefix="DEALREG_HTTP_", extra="ignore", hide_input_in_errors=True
    )

    host: str = Field(
        default="127.0.0.1",
        description="Address `python -m services.http.serve` binds; 0.0.0.0 or :: is every "
        "interface, where no development default is accepted.",
    )
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Default: the service's (8081, 8082, 8083)."
    )
    expose_docs: bool | None = Field(
        default=None, description="Serve /docs, /redoc, /openapi.json (default: not in production)."
    )
    expose_metrics: bool | None = Field(
        default=None,
        description="Serve /metrics (default: not in production unless a metrics token is set).",
    )
    metrics_token: SecretStr | None = Field(
        default=None, description="When set, /metrics answers only `Authorization: Bearer <it>`."
    )
    env: Environment = Field(
        default="development",
        validation_alias="DEALREG_ENV",
        description="The same DEALREG_ENV as the service's (read here for the defaults).",
    )

    @property
    def all_interfaces(self) -> bool:
        return self.host.strip() in ALL_INTERFACES

    @property
    def docs_on(self) -> bool:
        if self.expose_docs is not None:
            return self.expose_docs
        return self.env != "production"

    @property
    def metrics_on(self) -> bool:
        if self.expose_metrics is not None:
            return self.expose_metrics
        return self.env != "production" or self.metrics_token is not None

    @model_validator(mode="after")
    def _real_metrics_token(self) -> HttpSettings:
        token = self.metrics_token
        if token is not None and weak_secret(token.get_secret_value()):
            raise ValueError("DEALREG_HTTP_METRICS_TOKEN must be a real secret (24+ chars)")
        return self


class ServiceSettings(BaseSettings):
    """What every service process needs; services subclass it to add their own groups.

    Bound to every interface (``DEALREG_HTTP_HOST=0.0.0.0``), a service refuses to start while
    any setting still has its development default, naming each (see
    :meth:`development_defaults`), whatever ``DEALREG_ENV`` says.
    """

    model_config = SettingsConfigDict(
        env_prefix="DEALREG_", extra="ignore", hide_input_in_errors=True
    )

    service_name: str = "dealreg"
    log_level: str = "INFO"
    log_json: bool = True
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector base URL traces are exported to (`/v1/traces` is "
        "appended); unset: OTEL_EXPORTER_OTLP_ENDPOINT, else no export (docs/operations.md).",
    )
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    health: HealthSettings = Field(default_factory=HealthSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)

    def development_defaults(self) -> list[str]:
        """Each setting still at a development default, as ``NAME (why)``; services add theirs."""
        found = []
        if weak_secret(self.security.admin_token.get_secret_value()):
            found.append("DEALREG_ADMIN_TOKEN (a placeholder or shorter than 24 characters)")
        if self.database.url.startswith("sqlite"):
            found.append("DEALREG_DATABASE_URL (the embedded SQLite development database)")
        return found

    @model_validator(mode="after")
    def _no_development_defaults_on_all_interfaces(self) -> ServiceSettings:
        if not self.http.all_interfaces:
            return self
        found = self.development_defaults()
        if found:
            raise ValueError(
                f"bound to every interface (DEALREG_HTTP_HOST={self.http.host}) with development "
                f"defaults: {'; '.join(found)}. Set real values, or bind 127.0.0.1"
            )
        return self

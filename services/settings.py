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
_PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "dev", "admin", "secret"}


class KafkaSettings(BaseSettings):
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


class DatabaseSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEALREG_DATABASE_", extra="ignore")

    url: str = Field(description="SQLAlchemy async URL (sqlite+aiosqlite or postgresql+asyncpg).")
    echo: bool = False


class OutboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DEALREG_OUTBOX_", extra="ignore")

    poll_interval_seconds: float = Field(default=0.2, gt=0)
    batch_size: int = Field(default=200, ge=1)


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

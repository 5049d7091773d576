"""The Kafka security settings: what each protocol hands to aiokafka, and production's refusal."""

from __future__ import annotations

import ssl

import pytest
from pydantic import SecretStr, ValidationError

from services.kafka.security import client_options
from services.settings import KafkaSettings


def test_plaintext_passes_no_security_options() -> None:
    assert client_options(KafkaSettings()) == {}


def test_sasl_scram_passes_the_mechanism_and_credentials() -> None:
    settings = KafkaSettings(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="deal_registration",
        sasl_password=SecretStr("s3cret-s3cret"),
    )
    assert client_options(settings) == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "deal_registration",
        "sasl_plain_password": "s3cret-s3cret",
    }


def test_sasl_ssl_also_builds_a_verifying_tls_context() -> None:
    settings = KafkaSettings(
        security_protocol="SASL_SSL", sasl_username="crm_sync", sasl_password=SecretStr("pw")
    )
    context = client_options(settings)["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname


def test_sasl_without_credentials_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="SASL_USERNAME"):
        KafkaSettings(security_protocol="SASL_SSL")


def test_production_refuses_plaintext(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALREG_ENV", "production")
    with pytest.raises(ValidationError, match="PLAINTEXT in production"):
        KafkaSettings()


def test_production_accepts_plaintext_only_when_allowed_explicitly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEALREG_ENV", "production")
    monkeypatch.setenv("DEALREG_KAFKA_ALLOW_PLAINTEXT", "true")
    assert KafkaSettings().security_protocol == "PLAINTEXT"


def test_production_accepts_sasl_ssl(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEALREG_ENV", "production")
    monkeypatch.setenv("DEALREG_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("DEALREG_KAFKA_SASL_USERNAME", "conflict_resolver")
    monkeypatch.setenv("DEALREG_KAFKA_SASL_PASSWORD", "a-long-secret")
    assert client_options(KafkaSettings())["sasl_plain_username"] == "conflict_resolver"


def test_only_dealreg_env_says_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("DEALREG_KAFKA_ENV", "production")
    assert KafkaSettings().env == "development"

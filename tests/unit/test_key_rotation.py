"""The pieces of key rotation that need no system: the overlap's spelling, the previous
admin token's window, and settings that name one half of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import typer
from pydantic import SecretStr, ValidationError

from services.admin_token import PreviousAdminToken, token_sha256
from services.cli.keys import parse_duration
from services.http.security import admin_token_accepted
from services.settings import SecuritySettings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
OLD, NEW = "old-admin-token-0123456789abcdef", "new-admin-token-0123456789abcdef"


@pytest.mark.parametrize(
    ("spelled", "seconds"),
    [("24h", 86400), ("90m", 5400), ("1d12h", 129600), ("30s", 30), ("45", 45), ("0s", 0)],
)
def test_overlaps_are_spelled_in_units(spelled: str, seconds: int) -> None:
    assert parse_duration(spelled) == timedelta(seconds=seconds)


@pytest.mark.parametrize("spelled", ["h", "1w", "24 hours", "-1h", "1h-", "1h 2m"])
def test_an_overlap_in_no_known_unit_is_a_usage_error(spelled: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_duration(spelled)


def test_the_previous_token_is_accepted_until_its_overlap_ends_and_the_new_one_always() -> None:
    previous = PreviousAdminToken(sha256=token_sha256(OLD), until=NOW + timedelta(hours=24))
    assert admin_token_accepted(OLD, NEW, previous, now=NOW)
    assert admin_token_accepted(OLD, NEW, previous, now=NOW + timedelta(hours=23, minutes=59))
    assert not admin_token_accepted(OLD, NEW, previous, now=NOW + timedelta(hours=24))
    assert admin_token_accepted(NEW, NEW, previous, now=NOW + timedelta(days=30))
    assert not admin_token_accepted("another-token-0123456789abcdef", NEW, previous, now=NOW)
    assert not admin_token_accepted(OLD, NEW, None, now=NOW)


def test_settings_name_the_previous_token_by_hash_and_end_together() -> None:
    settings = SecuritySettings(
        admin_token=SecretStr(NEW),
        admin_token_previous_sha256=token_sha256(OLD),
        admin_token_previous_until=NOW,
    )
    assert settings.previous_admin_token == PreviousAdminToken(token_sha256(OLD), NOW)
    assert SecuritySettings(admin_token=SecretStr(NEW)).previous_admin_token is None
    with pytest.raises(ValidationError, match="go together"):
        SecuritySettings(admin_token=SecretStr(NEW), admin_token_previous_sha256=token_sha256(OLD))
    with pytest.raises(ValidationError):
        SecuritySettings(
            admin_token=SecretStr(NEW),
            admin_token_previous_sha256=OLD,
            admin_token_previous_until=NOW,
        )

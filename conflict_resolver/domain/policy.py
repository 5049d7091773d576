"""The rules-of-engagement policy: data, not code, with the defaults of DOMAIN.md."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field


class Policy(BaseModel):
    """One version of the policy. Durations are ISO-8601 (``P90D``; ``PT5S`` in tests)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int = Field(default=1, ge=1)
    protection_window: timedelta = Field(default=timedelta(days=90))
    tier_protection_windows: dict[str, timedelta] = Field(default_factory=dict)

    def window_for(self, tier: str) -> timedelta:
        return self.tier_protection_windows.get(tier, self.protection_window)


DEFAULT_POLICY = Policy()

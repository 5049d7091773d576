"""The resolver's published policy versions and house-account lists, on its own topic.

Sales ops publish both through the resolver, which stores each as a new version and nothing
else (``conflict_resolver.adapters.policy_store``). Until these events they were on no topic,
so the resolver could not be rebuilt from the topics (``dealreg replay conflict_resolver``):
each version travels whole, as stored, with who published it. Version 1 of the policy is the
default file, stored (and told) on first use.
"""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, Field

from schemas.envelope import EventPayload, register


@register
class PolicyPublished(EventPayload):
    """A policy version was stored: every decision from now on uses it."""

    event_type = "dealreg.policy.published"

    version: int = Field(ge=1)
    document: dict[str, Any] = Field(description="The policy document, as stored.")
    published_at: AwareDatetime
    published_by: str = Field(description="`default` for version 1 from the file, else ops.")


@register
class HouseAccountsPublished(EventPayload):
    """A house-account list version was stored (accounts the vendor sells to directly)."""

    event_type = "dealreg.policy.house_accounts_published"

    version: int = Field(ge=1)
    document: dict[str, Any] = Field(description="The list, as stored: `{accounts: [...]}`.")
    published_at: AwareDatetime
    published_by: str

"""Connector-neutral shapes of what crm_sync writes to and reads from a CRM."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from crm_sync.domain.amendments import SalesAmendment

Outcome = Literal["won", "lost"]

# Partner and protection fields: dealreg owns them; they flow from us to the CRM only.
OWNED_FIELDS: tuple[str, ...] = (
    "registration_id",
    "partner_id",
    "partner_name",
    "product_line",
    "protection_expires_at",
    "registration_status",
    # Every partner on the deal and its role (``domain.partners``).
    "partner_roles",
)
# Sales fields: the CRM owns them; they flow from the CRM to us only.
SALES_FIELDS: tuple[str, ...] = ("stage", "amount", "currency", "close_date", "owner", "outcome")


@dataclass(frozen=True)
class DealSeed:
    """Values a new opportunity needs once, at creation; afterwards sales owns them."""

    deal_name: str
    amount: Decimal
    currency: str
    close_date: date
    customer_name: str
    customer_domain: str | None
    customer_country: str


@dataclass(frozen=True)
class DealWrite:
    """One upsert keyed by the registration id: only the changed owned fields, plus the seed
    when the opportunity may not exist yet."""

    registration_id: str
    changes: dict[str, str]
    seed: DealSeed | None = None
    # A partner's amendment of the sales fields, sent once (``domain.amendments``).
    amendment: SalesAmendment | None = None
    # Set when the CRM still knows the opportunity by another registration id (a protection
    # transfer handed it over, ``domain.handover``): this write goes by the CRM's own id.
    crm_id: str | None = None


@dataclass(frozen=True)
class WriteResult:
    registration_id: str
    crm_id: str | None
    created: bool = False
    error: str | None = None
    retryable: bool = True
    modified_at: datetime | None = None


@dataclass(frozen=True)
class SalesState:
    """The sales fields of an opportunity as the CRM last told us."""

    stage: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    close_date: date | None = None
    owner: str | None = None
    outcome: Outcome | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "stage": self.stage,
            "amount": None if self.amount is None else str(self.amount),
            "currency": self.currency,
            "close_date": None if self.close_date is None else self.close_date.isoformat(),
            "owner": self.owner,
            "outcome": self.outcome,
        }

    @classmethod
    def from_json(cls, raw: dict[str, str | None]) -> SalesState:
        amount = raw.get("amount")
        close = raw.get("close_date")
        outcome = raw.get("outcome")
        return cls(
            stage=raw.get("stage"),
            amount=None if amount is None else Decimal(amount),
            currency=raw.get("currency"),
            close_date=None if close is None else date.fromisoformat(close),
            owner=raw.get("owner"),
            outcome=outcome if outcome in ("won", "lost") else None,  # type: ignore[arg-type]
        )


@dataclass(frozen=True)
class CrmDeal:
    """An opportunity read back from the CRM, in canonical field names."""

    crm_id: str
    registration_id: str | None
    owned: dict[str, str]
    sales: SalesState
    modified_at: datetime
    archived: bool = False
    modified_by_us: bool = False
    name: str = ""
    company_name: str | None = None
    company_domain: str | None = None
    company_country: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_direct(self) -> bool:
        """Sales created it in the CRM, not from a registration."""
        return not self.registration_id


@dataclass(frozen=True)
class StageTable:
    """A configurable map from the CRM's stage ids to our stage names and outcomes."""

    stages: dict[str, str]
    won: frozenset[str]
    lost: frozenset[str]
    initial: str

    def name_of(self, crm_stage: str | None) -> str | None:
        if crm_stage is None:
            return None
        return self.stages.get(crm_stage, crm_stage)

    def outcome_of(self, crm_stage: str | None) -> Outcome | None:
        if crm_stage in self.won:
            return "won"
        if crm_stage in self.lost:
            return "lost"
        return None


HUBSPOT_DEFAULT_STAGES = StageTable(
    stages={
        "appointmentscheduled": "prospecting",
        "qualifiedtobuy": "qualification",
        "presentationscheduled": "proposal",
        "decisionmakerboughtin": "negotiation",
        "contractsent": "contract",
        "closedwon": "closed_won",
        "closedlost": "closed_lost",
    },
    won=frozenset({"closedwon"}),
    lost=frozenset({"closedlost"}),
    initial="appointmentscheduled",
)

SALESFORCE_DEFAULT_STAGES = StageTable(
    stages={
        "Prospecting": "prospecting",
        "Qualification": "qualification",
        "Needs Analysis": "qualification",
        "Value Proposition": "proposal",
        "Proposal/Price Quote": "proposal",
        "Negotiation/Review": "negotiation",
        "Closed Won": "closed_won",
        "Closed Lost": "closed_lost",
    },
    won=frozenset({"Closed Won"}),
    lost=frozenset({"Closed Lost"}),
    initial="Prospecting",
)

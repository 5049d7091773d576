"""The published reasons a reviewer gives for rejecting a registration from the conflict
queue, and the fields a reviewer may return for edit.

Each code comes with the one sentence the partner reads (its view, history and webhook): it
never names another partner, an amount or a note. The reviewer's own note stays with sales
ops. The list is modelled on the review reasons of the commercial portals (the
``ReviewStatusReason`` values of AWS Partner Central's ACE opportunities and the declined /
lost reasons of Microsoft Partner Center referrals): a duplicate, missing or unverifiable
customer details, an opportunity that does not qualify, the vendor engaged directly, an
ineligible partner, a close date that is not credible, and "other".
"""

from __future__ import annotations

from typing import Final, Literal, get_args

RejectionCode = Literal[
    "DUPLICATE_OPPORTUNITY",
    "INSUFFICIENT_DETAILS",
    "CUSTOMER_NOT_VERIFIED",
    "OPPORTUNITY_NOT_QUALIFIED",
    "VENDOR_ENGAGED_DIRECTLY",
    "PARTNER_NOT_ELIGIBLE",
    "CLOSE_DATE_NOT_CREDIBLE",
    "OTHER",
]

REJECTION_REASONS: Final[dict[str, str]] = {
    "DUPLICATE_OPPORTUNITY": (
        "Sales ops found that this opportunity is already registered for this customer and "
        "product line; this registration is not approved."
    ),
    "INSUFFICIENT_DETAILS": (
        "Sales ops could not validate this registration: the customer or opportunity details "
        "are incomplete."
    ),
    "CUSTOMER_NOT_VERIFIED": (
        "Sales ops could not verify the customer or the opportunity from the details given."
    ),
    "OPPORTUNITY_NOT_QUALIFIED": (
        "Sales ops found that the opportunity does not meet the program's qualification rules."
    ),
    "VENDOR_ENGAGED_DIRECTLY": (
        "The vendor's own sales team is already engaged with this customer for this product "
        "line; this registration is not approved."
    ),
    "PARTNER_NOT_ELIGIBLE": (
        "Sales ops found that your partner account is not eligible to register this opportunity."
    ),
    "CLOSE_DATE_NOT_CREDIBLE": (
        "Sales ops found that the expected close date is not credible for this opportunity."
    ),
    "OTHER": "Sales ops reviewed this registration and did not approve it.",
}

# A rejection from the queue before reviewers gave codes (and when none is given).
REVIEW_REJECTED: Final = "REVIEW_REJECTED"
# Every code a rejection from the queue may carry: these are the ones a partner may appeal.
APPEALABLE: Final[frozenset[str]] = frozenset({*REJECTION_REASONS, REVIEW_REJECTED})


def rejection_sentence(code: str) -> str:
    """The partner-safe sentence of a published code (KeyError for any other)."""
    return REJECTION_REASONS[code]


# The fields of a registration a reviewer may return for edit, as the partner API names them.
EditableField = Literal[
    "customer.name",
    "customer.domain",
    "customer.country",
    "deal_type",
    "amount",
    "expected_close_date",
    "contact",
    "description",
    "partner_reference",
]
EDITABLE_FIELDS: Final[tuple[str, ...]] = get_args(EditableField)
# What an approved registration may still amend (the CRM mirrors it); the rest is its key.
AMENDABLE_FIELDS: Final[frozenset[str]] = frozenset({"amount", "expected_close_date", "contact"})

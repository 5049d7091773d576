"""Events of the conflict queue's answers a partner may contest or act on: an appeal of a
rejection, a return for edit, the partner's edit and an approved registration's amendment.

Flow: the resolver emits ``RegistrationReturnedForEdit`` (a reviewer sent it back);
deal_registration emits ``RegistrationAppealed``, ``RegistrationEdited`` (which the rules
decide again) and ``RegistrationAmended`` (which crm_sync mirrors). Keyed by the customer
account's matching key, like every registration event.
"""

from __future__ import annotations

from datetime import date

from pydantic import AwareDatetime, Field

from schemas.envelope import EventPayload, register
from schemas.registration import AmountData, RegistrationSubmitted


@register
class RegistrationAppealed(EventPayload):
    """The partner appealed a reviewer's rejection (once): the resolver reopens its case."""

    event_type = "dealreg.registration.appealed"

    registration_id: str
    account_key: str
    product_line: str
    appealed_at: AwareDatetime
    note: str = Field(description="The partner's words to the reviewer (ops only).")
    rejection_code: str = Field(description="The code of the rejection appealed.")


@register
class RegistrationReturnedForEdit(EventPayload):
    """A reviewer returned the registration to its partner (``action_required``) with
    comments and the fields the partner may change; its case is closed until the edit."""

    event_type = "dealreg.registration.returned_for_edit"

    registration_id: str
    account_key: str
    product_line: str
    returned_at: AwareDatetime
    comments: str = Field(description="The reviewer's words to the partner.")
    editable_fields: tuple[str, ...] = Field(description="Partner API field names, e.g. amount.")
    round_trip: int = Field(ge=1, description="How many times it has been returned, this one too.")
    max_round_trips: int = Field(ge=1, description="The policy's cap on returns.")
    decided_by: str = Field(description="`ops:<user id>`.")


@register
class RegistrationEdited(EventPayload):
    """The partner edited a registration returned to it: the registration as it now stands,
    for the rules to decide again (its ``submission_seq`` is its first acceptance's, so it
    keeps its place in first-to-register)."""

    event_type = "dealreg.registration.edited"

    registration_id: str
    account_key: str = Field(description="The edited customer's matching key.")
    product_line: str
    edited_at: AwareDatetime
    changed_fields: tuple[str, ...] = Field(description="Partner API field names.")
    registration: RegistrationSubmitted = Field(description="The registration as edited.")


@register
class RegistrationAmended(EventPayload):
    """The partner amended an approved registration's sales fields (amount, expected close
    date, contact); crm_sync mirrors them to the opportunity. Its key fields never change."""

    event_type = "dealreg.registration.amended"

    registration_id: str
    account_key: str
    product_line: str
    amended_at: AwareDatetime
    changed_fields: tuple[str, ...]
    amount: AmountData
    expected_close_date: date
    contact_name: str | None = None
    contact_email: str | None = None

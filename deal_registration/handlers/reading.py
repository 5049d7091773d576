"""Reading registrations: a partner its own (others' are not found), ops everyone's."""

from __future__ import annotations

from deal_registration.adapters import repository as repo
from deal_registration.domain.errors import FieldProblemsError, NotFoundError
from deal_registration.handlers.context import Context, Principal, Row, is_uuid


def _may_see(principal: Principal, row: Row) -> bool:
    if principal.role == "partner":
        return bool(row["partner_id"] == principal.partner_id)
    return True


_MAX_CURSOR = 2**62


async def get_registration(ctx: Context, principal: Principal, registration_id: str) -> Row:
    """The registration if the caller may see it; another partner's is not found, as if absent."""
    if not is_uuid(registration_id):
        raise NotFoundError
    async with ctx.transactions.reading() as session:
        row = await repo.get_registration(session, registration_id)
    if row is None or not _may_see(principal, row):
        raise NotFoundError
    return row


async def list_registrations(
    ctx: Context,
    principal: Principal,
    *,
    status: str | None,
    product_line: str | None = None,
    partner_id: str | None = None,
    limit: int,
    cursor: str | None,
) -> tuple[list[Row], str | None]:
    """A page of registrations in submission order: a partner's own, or (ops) everyone's."""
    after_seq = _decode_cursor(cursor)
    if principal.role == "partner":
        if partner_id is not None and partner_id != principal.partner_id:
            return [], None  # another partner's registrations do not exist for this caller
        partner_id = principal.partner_id
    async with ctx.transactions.reading() as session:
        rows = await repo.list_registrations(
            session,
            partner_id=partner_id,
            status=status,
            product_line=product_line,
            after_seq=after_seq,
            limit=limit + 1,
        )
    next_cursor = str(rows[limit - 1]["submission_seq"]) if len(rows) > limit else None
    return list(rows[:limit]), next_cursor


def _decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not (cursor.isascii() and cursor.isdigit()) or int(cursor) >= _MAX_CURSOR:
        raise FieldProblemsError(
            [{"field": "query.cursor", "message": "is not a valid cursor"}],
            detail="The cursor is not one this API returned.",
        )
    return int(cursor)


async def registration_history(
    ctx: Context, principal: Principal, registration_id: str
) -> list[Row]:
    await get_registration(ctx, principal, registration_id)
    async with ctx.transactions.reading() as session:
        return list(await repo.history_of(session, registration_id))

"""The resolver's one ops-authentication dependency, for every ops route: the policy, the
house accounts, the decisions and the conflict queue; and the overlap routes' caller, the one
place a partner key is taken (:func:`overlap_caller`).

It accepts the admin token or a live ops key learnt from ``dealreg.principals``
(``services.principals.OpsAuthenticator``, built once in ``app.create_app``); anything else is
a 401 problem. The console's live stream signs in with a stream token instead
(``conflict_resolver.queue.auth``), checked against the same keys.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from conflict_resolver.handlers.overlap import OverlapCaller, partner_caller
from conflict_resolver.state import ResolverState
from services.http.security import bearer_token, hash_api_key
from services.http.state import service_state
from services.principals import OpsAuthenticator, OpsCaller

# The resolver's callers are the shared ops callers: ``actor`` is ``admin`` or ``ops:<id>``.
Operator = OpsCaller


async def ops_keys(request: Request) -> OpsAuthenticator:
    """The process's authenticator (the admin token and the live ops keys)."""
    return service_state(request, ResolverState).ops_auth


OpsKeys = Annotated[OpsAuthenticator, Depends(ops_keys)]


async def current_operator(request: Request, keys: OpsKeys) -> Operator:
    """Who is calling (the admin or a sales-ops user), or 401."""
    return await keys(request)


Caller = Annotated[Operator, Depends(current_operator)]


async def overlap_caller(request: Request, keys: OpsKeys) -> OverlapCaller:
    """A live partner key (learnt from ``dealreg.principals``: acts for its partner only), or
    the admin token or an ops key (the vendor's side); anything else is a 401 problem."""
    token = bearer_token(request)
    state = service_state(request, ResolverState)
    partner = await partner_caller(state.overlap, hash_api_key(token))
    if partner is not None:
        return partner
    operator = await keys.authenticate(token)
    return OverlapCaller(actor=operator.actor)


AnyCaller = Annotated[OverlapCaller, Depends(overlap_caller)]

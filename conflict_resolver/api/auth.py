"""Who may read and change the policy and house accounts: the admin and sales ops.

The same credentials as the conflict queue (``conflict_resolver.queue.auth``): the admin token
or a live ops key learnt from ``dealreg.principals``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from conflict_resolver.queue import auth as queue_auth
from services.http.security import bearer_token


async def require_ops(request: Request) -> str:
    """Who is calling, as decisions and versions record it (``admin`` or ``ops:<id>``), or 401."""
    queue = request.app.state.queue
    operator = await queue_auth.authenticate(
        queue.transactions, queue.admin_token, bearer_token(request)
    )
    return operator.actor


Ops = Annotated[str, Depends(require_ops)]

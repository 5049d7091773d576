"""Who may change the policy: sales ops.

Until the shared ops authentication of the conflict queue is merged, the built-in admin token
(``DEALREG_ADMIN_TOKEN``) is the only ops credential here; point :func:`require_ops` at the
shared one then.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.http.security import bearer_token, is_admin_token, unauthorized


async def require_ops(request: Request) -> str:
    """The caller's principal id (``admin``), or 401."""
    token = bearer_token(request)
    settings = request.app.state.runtime.settings
    if is_admin_token(token, settings.security.admin_token.get_secret_value()):
        return "admin"
    raise unauthorized()


Ops = Annotated[str, Depends(require_ops)]

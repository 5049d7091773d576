"""One typed state object per service on its FastAPI app.

A service's lifespan builds everything its routes reach into one frozen object and installs it
with ``install_state`` (beside the shared ``ServiceRuntime``, which the health and exposure
routes read); routes reach it through ``service_state(request, TheType)``, checked, never
through loose ``app.state`` attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

from fastapi import FastAPI, Request

if TYPE_CHECKING:
    from services.runtime import ServiceRuntime

StateT = TypeVar("StateT")


def install_state(app: FastAPI, runtime: ServiceRuntime, state: object) -> None:
    app.state.runtime = runtime
    app.state.service = state


def service_state(request: Request, kind: type[StateT]) -> StateT:
    """The service's state object, as the lifespan installed it."""
    state = getattr(request.app.state, "service", None)
    if not isinstance(state, kind):
        raise RuntimeError(f"the app has no {kind.__name__}: was its lifespan run?")
    return state

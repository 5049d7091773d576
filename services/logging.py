"""Structured logs: one JSON object per line, carrying the correlation id when there is one,
and the active span's ``trace_id`` and ``span_id`` (``services.tracing``) when in one.

Every library logs in the same shape: structlog's own loggers and the standard library's
(uvicorn, SQLAlchemy, aiokafka, asyncio, alembic, warnings) go through the same processors and
the same renderer, so a line from ``uvicorn.error`` has the same ``timestamp``, ``level``,
``service`` and ``event`` keys as one from a handler, plus ``logger`` (the library's logger).
``configure_logging`` replaces every handler a library installed on the way (uvicorn's default
configuration, SQLAlchemy's ``echo``), and may be called again (the serve command calls it
before uvicorn starts, the service runtime once more with its settings).
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

from services.tracing import trace_ids

# Libraries that configure handlers of their own: theirs go, the root's JSON handler stays.
_LIBRARY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.engine.Engine",
    "sqlalchemy.pool",
    "aiokafka",
    "alembic",
    "asyncio",
    "py.warnings",
)
_service_name = ""


def _add_service(_logger: Any, _method: str, event_dict: structlog.typing.EventDict) -> Any:
    """The service's name on every line, also on lines logged outside its context."""
    if _service_name:
        event_dict.setdefault("service", _service_name)
    return event_dict


def _add_trace(_logger: Any, _method: str, event_dict: structlog.typing.EventDict) -> Any:
    """The active span's ``trace_id`` and ``span_id`` (``services.tracing``), when in one."""
    for key, value in trace_ids().items():
        event_dict.setdefault(key, value)
    return event_dict


def configure_logging(*, service: str, level: str = "INFO", as_json: bool = True) -> None:
    global _service_name
    _service_name = service
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_service,
        _add_trace,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _LIBRARY_LOGGERS:
        library = logging.getLogger(name)
        for old in list(library.handlers):
            library.removeHandler(old)
        library.propagate = True
    logging.captureWarnings(True)

    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # httpx logs every request's full URL at INFO: partner webhook URLs and CRM URLs may carry
    # tokens in their paths or queries, so only its warnings are kept.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG (webhook URLs with tokens,
    # encrypted secrets, key hashes): never below INFO, whatever the level.
    numeric = logging.getLevelName(level)
    floor = numeric if isinstance(numeric, int) else logging.INFO
    logging.getLogger("aiosqlite").setLevel(max(logging.INFO, floor))


def configure_logging_from_env(service: str) -> None:
    """For commands that start before (or without) the service's settings: the serve command
    before uvicorn, the migrations. ``DEALREG_LOG_LEVEL`` and ``DEALREG_LOG_JSON`` as the
    settings read them."""
    configure_logging(
        service=service,
        level=os.environ.get("DEALREG_LOG_LEVEL", "INFO").upper(),
        as_json=os.environ.get("DEALREG_LOG_JSON", "true").lower() not in {"0", "false", "no"},
    )

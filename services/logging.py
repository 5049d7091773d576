"""Structured logs: one JSON object per line, carrying the correlation id when there is one."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(*, service: str, level: str = "INFO", as_json: bool = True) -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
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

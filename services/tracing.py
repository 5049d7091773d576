"""OpenTelemetry traces: one trace from a partner's HTTP request to the CRM call it causes.

- Every service process has an SDK tracer provider (parent-based, always-on sampling), so spans
  have ids and every log line carries ``trace_id`` and ``span_id`` (``services.logging``). Spans
  are exported over OTLP/HTTP only when an endpoint is configured (the standard
  ``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, or
  ``DEALREG_OTLP_ENDPOINT``); without one no span leaves the process and nothing is batched.
- The context crosses process boundaries as W3C trace context: the ``traceparent`` HTTP header
  (FastAPI and httpx instrumentation), and the ``traceparent`` Kafka record header next to the
  CloudEvents ``ce_*`` headers. The outbox stores the ``traceparent`` of the transaction that
  staged an event, and the relay writes that one into the record, so the consumer's span is a
  child of the request's, not of the relay's polling loop. crm_sync keeps the consumer span's
  ``traceparent`` with the pending deal, so the CRM push (a polling loop too) continues it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import Link, Span, SpanKind

if TYPE_CHECKING:  # the SDK is imported by the services that configure it, not by every CLI
    from opentelemetry.sdk.trace import TracerProvider

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# Health probes and scrapes: frequent, and of no interest in a trace.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"

_provider: TracerProvider | None = None

tracer = trace.get_tracer("dealreg")


def otlp_endpoint(configured: str | None = None) -> str | None:
    """The OTLP/HTTP traces URL spans go to, if any: the setting (a base URL), else
    ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (used as it is), else ``OTEL_EXPORTER_OTLP_ENDPOINT``
    (a base URL); ``/v1/traces`` is appended to a base URL, as the OTLP specification says."""
    if configured:
        return configured.rstrip("/") + "/v1/traces"
    if os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        return os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"].rstrip("/") + "/v1/traces"
    return None


def configure_tracing(*, service: str, endpoint: str | None = None) -> TracerProvider:
    """Install the process's tracer provider (once; later calls return the first).

    ``endpoint``: ``DEALREG_OTLP_ENDPOINT``, the collector's base URL (``/v1/traces`` is
    appended) or the standard variables; none: spans are made (for the ids) but not exported.
    """
    global _provider
    if _provider is not None:
        return _provider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service)})
    )
    traces_url = otlp_endpoint(endpoint)
    if traces_url:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url)))
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush what is batched (a stopping service): spans of its last moments are kept."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5_000)


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the active span, or None outside any (valid) span."""
    carrier: dict[str, str] = {}
    inject(carrier)
    return carrier.get(TRACEPARENT)


def context_from_traceparent(traceparent: str | None) -> otel_context.Context | None:
    """The context a stored ``traceparent`` names (None: none stored, or unreadable)."""
    if not traceparent:
        return None
    extracted = extract({TRACEPARENT: traceparent})
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        return None
    return extracted


def inject_record_headers(
    headers: list[tuple[str, bytes]], traceparent: str | None
) -> list[tuple[str, bytes]]:
    """The record's headers with ``traceparent`` set to the given one (the staging
    transaction's) or, without one, the active span's; unchanged when neither exists."""
    value = traceparent or current_traceparent()
    kept = [(name, raw) for name, raw in headers if name != TRACEPARENT]
    if value:
        kept.append((TRACEPARENT, value.encode()))
    return kept


def extract_record_context(headers: Iterable[tuple[str, bytes]]) -> otel_context.Context:
    """The trace context a Kafka record carries (an empty context when it carries none)."""
    carrier: dict[str, str] = {}
    for name, raw in headers:
        if name in (TRACEPARENT, TRACESTATE):
            carrier[name] = bytes(raw).decode("ascii", errors="replace")
    return extract(carrier)


def trace_ids() -> dict[str, str]:
    """``trace_id`` and ``span_id`` (hex) of the active span, for a log line; empty outside."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return {}
    return {
        "trace_id": format(span_context.trace_id, "032x"),
        "span_id": format(span_context.span_id, "016x"),
    }


def annotate(**attributes: str) -> None:
    """Name what the active span is about (``dealreg.<name>``), so a trace backend finds the
    trace by registration or correlation id; nothing outside a recording span."""
    trace.get_current_span().set_attributes(
        {f"dealreg.{name}": value for name, value in attributes.items()}
    )


@contextmanager
def span_continuing(
    name: str,
    traceparents: Sequence[str | None],
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: dict[str, Any] | None = None,
) -> Iterator[Span]:
    """A span continuing the first stored trace context, linked to the others (a batch that
    serves several traces, such as one CRM call for several deals); a new trace without any."""
    contexts = [c for c in (context_from_traceparent(t) for t in traceparents) if c is not None]
    parent = contexts[0] if contexts else None
    links = [Link(trace.get_current_span(c).get_span_context()) for c in contexts[1:]]
    with tracer.start_as_current_span(
        name, context=parent, kind=kind, attributes=attributes, links=links
    ) as span:
        yield span

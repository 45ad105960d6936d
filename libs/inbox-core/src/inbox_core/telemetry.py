"""OpenTelemetry tracing configured from the standard OTEL_* environment.

`OTEL_TRACES_EXPORTER`: `none` (default), `console`, or `otlp` (needs the optional
opentelemetry-exporter-otlp package). `OTEL_SERVICE_NAME` overrides the service name.
Trace context travels in NATS headers (W3C `traceparent`), so one trace spans
webhook → router → notifier → event.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased

_configured = False


def _exporter(name: str) -> SpanExporter | None:
    if name == "console":
        return ConsoleSpanExporter()
    if name == "otlp":
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore
                OTLPSpanExporter,
            )
        except ImportError:
            return None
        return OTLPSpanExporter()  # type: ignore[no-any-return]
    return None


def configure_tracing(service: str, exporter: SpanExporter | None = None) -> TracerProvider:
    """Install a tracer provider once per process. `exporter` is for tests."""
    global _configured
    provider = trace.get_tracer_provider()
    if _configured and isinstance(provider, TracerProvider):
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        return provider
    name = os.environ.get("OTEL_SERVICE_NAME", service)
    configured = _exporter(os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower())
    sampler = None  # the SDK's own (OTEL_TRACES_SAMPLER, else parent-based always-on)
    if configured is None and exporter is None and "OTEL_TRACES_SAMPLER" not in os.environ:
        # Nothing would export a span: do not record them (a recorded span per message was
        # a tenth of a service's CPU). Trace ids are still made and passed on in the NATS
        # headers, so the logs of one message share its trace_id across services.
        sampler = ParentBased(ALWAYS_OFF)
    provider = TracerProvider(resource=Resource.create({"service.name": name}), sampler=sampler)
    if configured is not None:
        provider.add_span_processor(BatchSpanProcessor(configured))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _configured = True
    return provider


_tracers: dict[tuple[str, int], trace.Tracer] = {}


def tracer(name: str = "inbox") -> trace.Tracer:
    """The tracer of `name`, made once per provider (making one per span was a tenth of a
    connector's CPU)."""
    provider = trace.get_tracer_provider()
    key = (name, id(provider))
    found = _tracers.get(key)
    if found is None:
        found = _tracers[key] = provider.get_tracer(name)
    return found


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add the current trace context (traceparent/tracestate) to NATS headers."""
    propagate.inject(headers)
    return headers


def extract_context(headers: Mapping[str, str] | None) -> otel_context.Context:
    return propagate.extract(dict(headers or {}))

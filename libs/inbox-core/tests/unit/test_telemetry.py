"""Without an exporter, spans are not recorded, but a message's trace id still travels in
its NATS headers, so every service logs the same trace_id for it."""

from opentelemetry import trace

from inbox_core.telemetry import configure_tracing, extract_context, inject_headers, tracer


def test_trace_id_travels_through_headers_without_an_exporter() -> None:
    configure_tracing("test")
    with tracer().start_as_current_span("webhook") as first:
        headers = inject_headers({})
    sent = first.get_span_context()
    assert sent.is_valid and headers["traceparent"].split("-")[1] == format(sent.trace_id, "032x")
    with tracer().start_as_current_span("handle", context=extract_context(headers)) as second:
        got = trace.get_current_span().get_span_context()
    assert got.trace_id == sent.trace_id
    assert got.span_id != sent.span_id
    assert not first.is_recording() and not second.is_recording()  # nothing would export them


def test_tracer_is_made_once_per_name() -> None:
    assert tracer("inbox") is tracer("inbox")
    assert tracer("inbox") is not tracer("other")

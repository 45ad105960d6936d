"""Reports routes of the agent API: summary, time series (JSON or CSV) and the live board.

Periods are Asia/Seoul days and hours. Figures per agent are for admins only: an agent's
summary carries `by_agent: null`, and `timeseries?by=agent` answers 403 `forbidden`.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from typing import Any, Final

from aiohttp import web

from inbox_core.runtime import RUNTIME
from inbox_core.schema import utcnow
from inbox_notifier import reports
from inbox_notifier.auth import is_admin, require_admin
from inbox_notifier.report_counters import ALL, SEOUL, day_start
from inbox_notifier.report_models import (
    LiveOut,
    PeriodQuery,
    SummaryOut,
    TimeseriesOut,
    TimeseriesQuery,
)
from inbox_notifier.routing import ApiError, RouteTable

MAX_DAYS: Final = 3 * 366
MAX_HOURLY_DAYS: Final = 31
USUAL_DAYS: Final = 14

reports_api = RouteTable()


def _db(request: web.Request) -> Any:
    return request.app[RUNTIME].store.db


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "validation_error", message, [{"field": field, "message": message}])


def parse_instant(raw: str, field: str, *, end: bool) -> datetime:
    """An ISO date (a Seoul day; as `to` it includes that day) or datetime (Seoul if naive)."""
    raw = raw.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            start = datetime(day.year, day.month, day.day, tzinfo=SEOUL)
            return start + timedelta(days=1) if end else start
        at = datetime.fromisoformat(raw)
    except ValueError as err:
        raise _invalid(field, f"{field} must be an ISO date or datetime") from err
    return at if at.tzinfo else at.replace(tzinfo=SEOUL)


def period(query: PeriodQuery, max_days: int = MAX_DAYS) -> tuple[datetime, datetime]:
    today = day_start(utcnow())
    start = (
        parse_instant(query.from_, "from", end=False) if query.from_ else today - timedelta(days=6)
    )
    end = parse_instant(query.to, "to", end=True) if query.to else today + timedelta(days=1)
    if end <= start:
        raise _invalid("to", "to must be after from")
    if end - start > timedelta(days=max_days):
        raise _invalid("to", f"a period is at most {max_days} days")
    return start, end


def _csv_response(rows: list[list[Any]], name: str) -> web.Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerows(rows)
    # A byte-order mark: spreadsheet programs then read the Korean text as UTF-8.
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode(),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


SUMMARY_COLUMNS: Final = (
    "created",
    "resolved",
    "first_responses",
    "first_response_median_s",
    "within_sla",
    "bot_answered",
)


def summary_rows(body: dict[str, Any]) -> list[list[Any]]:
    fr = body["first_response"]
    rows: list[list[Any]] = [["section", "key", *SUMMARY_COLUMNS]]
    rows.append(
        [
            "total",
            ALL,
            body["created"],
            body["resolved"],
            fr["count"],
            fr["median_s"],
            fr["within_sla"],
            body["bot_answered"]["count"],
        ]
    )
    for section in ("category", "channel", "team", "product"):
        for key, figures in body[f"by_{section}"].items():
            rows.append([section, key, *(figures.get(c) for c in SUMMARY_COLUMNS)])
    for row in body["by_agent"] or []:
        rows.append(["agent", row["agent"], *(row.get(c) for c in SUMMARY_COLUMNS)])
    return [["" if v is None else v for v in row] for row in rows]


def _file_name(kind: str, start: datetime, end: datetime) -> str:
    last = end - timedelta(seconds=1)
    return f"report-{kind}-{start.astimezone(SEOUL):%Y%m%d}-{last.astimezone(SEOUL):%Y%m%d}.csv"


@reports_api.add(
    "GET",
    "/api/reports/summary",
    query=PeriodQuery,
    response=SummaryOut,
    tag="reports",
    summary="Arrivals, first response, resolution and SLA figures of a period (?format=csv)",
)
async def report_summary(request: web.Request, query: PeriodQuery) -> Any:
    start, end = period(query)
    body = await reports.summary(_db(request), start, end, with_agents=is_admin(request))
    if query.format == "csv":
        return _csv_response(summary_rows(body), _file_name("summary", start, end))
    return body


@reports_api.add(
    "GET",
    "/api/reports/timeseries",
    query=TimeseriesQuery,
    response=TimeseriesOut,
    errors=(403,),
    tag="reports",
    summary="A figure per hour or per day, split by category, channel, team, product, ...",
)
async def report_timeseries(request: web.Request, query: TimeseriesQuery) -> Any:
    if query.by == "agent":
        require_admin(request)
    max_days = MAX_HOURLY_DAYS if query.interval == "hour" else MAX_DAYS
    start, end = period(query, max_days)
    body = await reports.timeseries(
        _db(request), start, end, query.interval, query.by, query.metric
    )
    if query.format == "csv":
        rows: list[list[Any]] = [["start", query.by, query.metric]]
        for bucket in body["buckets"]:
            for key, value in bucket["counts"].items():
                rows.append([bucket["start"], key, "" if value is None else value])
        return _csv_response(rows, _file_name(f"{query.metric}-by-{query.by}", start, end))
    return body


@reports_api.add(
    "GET",
    "/api/reports/live",
    response=LiveOut,
    tag="reports",
    summary="Now: backlog by team, due within the hour, arrivals vs usual, today's 응대율, spikes",
)
async def report_live(request: web.Request) -> Any:
    return await reports.live(_db(request), utcnow())

"""Everything under tests/e2e and tests/faults drives the whole stack: mark it `e2e`, so
`make test` runs it after the parallel unit/service run, on its own."""

from __future__ import annotations

from pathlib import Path

import pytest

WHOLE_STACK = ("e2e", "faults")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        path = Path(str(item.fspath))
        if any(here / part in path.parents for part in WHOLE_STACK):
            item.add_marker(pytest.mark.e2e)

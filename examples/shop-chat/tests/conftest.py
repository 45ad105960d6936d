"""The example package's code importable by its tests (as its own install would make it).
Its channel *registration* (the entry point) is added only by the `installed` fixture,
for the test that needs it, so other tests in the same process never see Shop Chat."""

from __future__ import annotations

import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
if str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))

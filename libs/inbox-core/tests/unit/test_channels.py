"""The channel registry: what a broken registration says, and how `make demo` takes turns."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from inbox_core.channels import (
    Badge,
    ChannelRegistration,
    DemoSite,
    RegistryError,
    Simulator,
    hosted_by,
    registered,
)
from inbox_core.demo import Demo

GOOD = Badge({"ko": "테스트", "en": "Test"}, "#123456")


def _install(root: Path, monkeypatch: pytest.MonkeyPatch, module: str, entry: str) -> None:
    """A package `reg_probe` with `module` as its code and `entry` in inbox.channels."""
    (root / "reg_probe.py").write_text(textwrap.dedent(module))
    dist = root / "reg_probe-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: reg-probe\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[inbox.channels]\n{entry}\n")
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delitem(sys.modules, "reg_probe", raising=False)


PROBE = """
from inbox_core.channels import Badge, ChannelRegistration
PROBE = ChannelRegistration(
    name="probe", service="nowhere", badge=Badge({{"ko": "프로브"}}, "{colour}"), order={order}
)
NOT_A_REGISTRATION = "probe"
"""
CASES = {
    "not-a-registration": (
        PROBE.format(colour="#123456", order=1),
        "probe = reg_probe:NOT_A_REGISTRATION",
        "not a ChannelRegistration",
    ),
    "name-differs": (
        PROBE.format(colour="#123456", order=1),
        "other = reg_probe:PROBE",
        "names the channel 'probe', not 'other'",
    ),
    "bad-colour": (
        PROBE.format(colour="red", order=1),
        "probe = reg_probe:PROBE",
        "is not #rrggbb",
    ),
    "import-fails": ("raise RuntimeError('boom')", "probe = reg_probe:PROBE", "boom"),
}


@pytest.mark.parametrize(("module", "entry", "says"), CASES.values(), ids=CASES.keys())
def test_a_broken_registration_is_named_not_skipped(
    module: str, entry: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(tmp_path, monkeypatch, module, entry)

    with pytest.raises(RegistryError, match="reg_probe") as err:
        registered()

    assert says in str(err.value)


def test_a_registration_is_listed_by_order_then_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install(
        tmp_path, monkeypatch, PROBE.format(colour="#123456", order=1), "probe = reg_probe:PROBE"
    )

    names = [c.name for c in registered()]

    assert names[0] == "probe" and "mail" in names


def test_demo_turns_follow_the_weights_and_skip_channels_without_customers(
    tmp_path: Path,
) -> None:
    said: list[str] = []

    def channel(name: str, weight: int, customer: bool = True) -> ChannelRegistration:
        def start(site: DemoSite) -> list[str] | None:
            site.env[f"{name.upper()}_URL"] = site.url
            return None  # nothing to run

        simulator = Simulator(
            start=start,
            customer=(lambda _site: said.append(name)) if customer else None,
            weight=weight,
        )
        return ChannelRegistration(name, "svc", GOOD, simulator=simulator)

    stack = SimpleNamespace(env={}, data_dir=tmp_path)
    demo = Demo(stack, channels=[channel("a", 1), channel("b", 2), channel("c", 1, False)])  # type: ignore[arg-type]

    assert demo.configure() == []  # no process to start
    for _, write in demo.customers():
        write()

    assert said == ["a", "b", "b"]
    assert set(stack.env) == {"A_URL", "B_URL", "C_URL"}  # every simulator pointed its service


def test_a_service_without_any_channel_says_how_to_fix_it() -> None:
    with pytest.raises(RegistryError, match=r"no channel is registered for nowhere.*make install"):
        hosted_by("nowhere")

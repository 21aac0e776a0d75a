"""The dashboard's package: its assets ship with their licences and point nowhere else."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from batchyard.service.throughput import Throughput
from batchyard.ui import http

VENDOR = http.STATIC / "vendor"


def test_vendored_assets_ship_with_their_licences() -> None:
    for name in ("htmx.min.js", "uPlot.iife.min.js", "uPlot.min.css"):
        assert (VENDOR / name).stat().st_size > 1000
    assert (
        "BSD" in (VENDOR / "htmx.LICENSE").read_text()
        or "Redistribution" in (VENDOR / "htmx.LICENSE").read_text()
    )
    assert "MIT" in (VENDOR / "uPlot.LICENSE").read_text()
    assert "htmx.org 2." in (VENDOR / "VERSION").read_text()


def test_pages_load_nothing_from_another_origin() -> None:
    external = re.compile(r"""(src|href)=["']?(https?:)?//""")
    for path in [*(http.HERE / "templates").iterdir(), *http.STATIC.glob("*.*")]:
        assert not external.search(path.read_text()), path


def test_moments_read_relative_to_now() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert http.ago(now - timedelta(seconds=12), now) == "12 s ago"
    assert http.ago(now + timedelta(minutes=3), now) == "in 3 min"
    assert http.ago(now - timedelta(hours=5), now) == "5 h ago"
    assert http.ago(None) == "—"
    assert http.iso(now) == "2026-01-01T00:00:00Z"


def test_throughput_keeps_rates_per_second_in_a_ring() -> None:
    totals = iter([(0.0, 0.0), (10.0, 4.0), (30.0, 4.0), (35.0, 10.0)])
    ring = Throughput(totals=lambda: next(totals), seconds=2)
    for second in range(4):
        ring.sample(now=1000.0 + 2 * second)
    rates = ring.rates()
    assert rates.at == [1004.0, 1006.0]  # the oldest sample fell out of the ring
    assert rates.claimed == [10.0, 2.5]
    assert rates.finished == [0.0, 3.0]

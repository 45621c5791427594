"""The failure drill, short: the whole production topology on this machine, four faults under load,
and the targets of docs/deploy.md met. Slow (about two minutes with start and settle)."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

import pytest

from tools.servers import _in_use, binary, pg_binary

pytestmark = pytest.mark.slow


def _free_base() -> int:
    """A base port whose whole block (and the cluster bus ports) is free and clear of make run's.

    Every port, bus ports included, stays below the kernel's ephemeral range (32768 and up), where
    any outgoing connection of another test may take it between this check and the server's bind."""
    for _ in range(200):
        base = random.randrange(12000, 22000, 50)
        ports = [base + n for n in range(23)] + [base + 10020 + n for n in range(3)]
        if not any(_in_use(port) for port in ports):
            return base
    raise RuntimeError("no free block of ports")


def test_short_drill_meets_every_target(capsys):
    for name in ("redis-server", "redis-sentinel", "redis-cli", "haproxy"):
        try:
            binary(name)
        except SystemExit:
            pytest.skip(f"{name} is not installed")
    try:
        pg_binary("postgres")
    except SystemExit:
        pytest.skip("postgresql is not installed")
    from tools.drill import Drill, render

    folder = Path(tempfile.mkdtemp(prefix="ops-drill-"))
    try:
        summary = Drill(66, base_port=_free_base(), folder=folder / "cluster", quiet=True).run()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    with capsys.disabled():
        print(render(summary))
    assert all(row["hops"] > 50 for row in summary["rows"]), summary["rows"]
    assert summary["applications"]["pin_submitted"] > 0
    assert summary["sms"]["in_flight_at_kill"] > 0, "the SMS worker was not caught mid-batch"
    failed = [name for name, ok in summary["targets"].items() if not ok]
    assert failed == [], render(summary)

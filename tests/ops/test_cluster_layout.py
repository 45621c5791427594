"""make cluster's layout: its ports stay clear of make run's, and its banner never shows a secret."""

from __future__ import annotations

import pytest

from tools.cluster import PORTS, RESERVED, Topology


def test_the_banner_names_every_service_and_no_secret(tmp_path):
    topology = Topology(base_port=7100, folder=tmp_path / "cluster", quiet=True)
    banner = topology.banner()
    for secret in vars(topology.secrets).values():
        assert secret not in banner
    assert "postgresql+psycopg://gateway:***@127.0.0.1:7110/gateway" in banner
    assert "redis+sentinel://127.0.0.1:7113,127.0.0.1:7114,127.0.0.1:7115/mymaster/0" in banner
    assert "redis+cluster://127.0.0.1:7120,127.0.0.1:7121,127.0.0.1:7122" in banner
    assert "http://127.0.0.1:7100" in banner


def test_default_ports_clear_make_run_and_a_colliding_base_is_refused(tmp_path):
    used = {7100 + offset for offset in PORTS.values()}
    assert not used & RESERVED
    with pytest.raises(SystemExit, match="collides"):
        Topology(base_port=7990, folder=tmp_path / "cluster", quiet=True)  # 7990 + 10 = 8000

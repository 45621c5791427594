"""Operator logins flooding the gateway while citizens dial, attacked as it was found: 20 logins at
once with unknown emails (each an argon2 hash at its real cost; the per-address throttle lifted, as
for an attacker with many addresses) against the gateway served exactly as `make run` serves it
(granian, one process, four request threads), while hops come on a fixed schedule. When every
login may wait for a hash on a request thread, the hops wait for a free thread (3.6 s in the
report; p99 1.3 s here with PASSWORD_HASH_QUEUE=20); with hashing on its bounded pool the hops'
p99 stays under 100 ms."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
import requests

from tests.support import GatewayServer, free_port

_local = threading.local()
LOGINS = 20
HOP_P99_LIMIT_S = 0.100
HOP_INTERVAL_S = 0.02  # 50 hops a second: a busy gateway process's share
WINDOW_S = 2.0  # hops are measured from the logins' start for at least this long
BUSY_S = 30.0  # the latency a "busy" answer counts as

# Runs in a process of its own, so the logins' HTTP work does not slow the threads that measure
# the hops: LOGINS browsers fetch the login form, then all post a login at once.
FLOOD = """
import collections, json, re, sys, threading
import requests

url, count = sys.argv[1], int(sys.argv[2])
browsers = []
for n in range(count):
    browser = requests.Session()
    page = browser.get(url + "/console/login", timeout=30)
    browsers.append((browser, re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)))
answers, lock, go = collections.Counter(), threading.Lock(), threading.Event()

def login(n):
    browser, token = browsers[n]
    form = {"email": f"nobody{n}@example.org", "password": "a wrong guess", "csrf_token": token}
    go.wait()
    status = browser.post(url + "/console/login", data=form, timeout=60, allow_redirects=False).status_code
    with lock:
        answers[status] += 1

workers = [threading.Thread(target=login, args=(n,)) for n in range(count)]
for worker in workers:
    worker.start()
print("ready", flush=True)
sys.stdin.readline()
go.set()
for worker in workers:
    worker.join()
print(json.dumps(answers), flush=True)
"""


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def _summary(latencies: list[float]) -> str:
    p50, p99 = _percentile(latencies, 0.5) * 1000, _percentile(latencies, 0.99) * 1000
    return f"n={len(latencies)} p50={p50:.1f} ms p99={p99:.1f} ms max={max(latencies) * 1000:.1f} ms"


@pytest.fixture
def gateway(settings, tmp_path):
    from app import create_app

    database_url = f"sqlite:///{tmp_path / 'gateway.db'}"
    create_app(replace(settings, database_url=database_url)).extensions["database"].upgrade()
    env = {
        "REDIS_URL": settings.redis_url,
        "DATABASE_URL": database_url,
        "CORE_URL": f"http://127.0.0.1:{free_port()}",
        "PASSWORD_HASH_PROFILE": "default",  # the real argon2 cost: the point of the test
        "LOGIN_MAX_FAILURES_PER_IP": "1000000",
        "RATE_LIMIT_PER_MINUTE": "100000",
        "GATEWAY_THREADS": "4",
        "LOG_LEVEL": "WARNING",
        "VAR_DIR": str(tmp_path),
    }
    server = GatewayServer(env, workers=1).start()
    yield server
    server.stop()


def hop(url: str, n: int, scheduled: float | None = None) -> float:
    """Post one hop; its latency counted from `scheduled` (when it was due), so a hop that waited
    for a free request thread counts the wait."""
    form = {
        "sessionId": f"ATUid_flood_{n}",
        "serviceCode": "*384*123#",
        "phoneNumber": f"+2547120{n % 100000:05d}",
        "networkCode": "63902",
        "text": "7" if n % 2 else "",
    }
    started = time.perf_counter() if scheduled is None else scheduled
    browser = getattr(_local, "session", None) or requests.Session()
    _local.session = browser  # keep-alive, as an aggregator's connection pool does
    answer = browser.post(f"{url}/ussd/africastalking", data=form, timeout=30)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200 and answer.text.startswith(("CON ", "END Service busy")), answer.text
    # "busy" (a Redis command over its 0.5 s budget on a starved machine) is a hop that missed
    # any budget: it counts as one, so a try whose hops alone were busy decides nothing, and busy
    # hops during the logins fail the test like slow ones
    return elapsed if answer.text.startswith("CON ") else BUSY_S


def scheduled_hops(url: str, first: int, going, at_least_s: float, at_most_s: float = 60.0) -> list[float]:
    """Hops on a fixed schedule for `at_least_s`, then while `going()` (open loop: a stalled gateway
    shows as many late hops, not as one); their latencies."""
    futures = []
    with ThreadPoolExecutor(max_workers=64) as pool:
        start, due = time.perf_counter(), 0
        while due * HOP_INTERVAL_S < at_least_s or (going() and due * HOP_INTERVAL_S < at_most_s):
            scheduled = start + due * HOP_INTERVAL_S
            time.sleep(max(0.0, scheduled - time.perf_counter()))
            futures.append(pool.submit(hop, url, first + due, scheduled))
            due += 1
        return [future.result() for future in futures]


def flood_once(url: str, attempt: int) -> tuple[list[float], list[float], dict[int, int]]:
    """(hops alone, hops during LOGINS logins at once, the logins' answers by status)."""
    baseline = scheduled_hops(url, 10_000 * attempt, lambda: False, at_least_s=WINDOW_S)
    # niced: the attackers' machines are not the gateway's; here they share its two cores
    command = ["nice", "-n", "10", sys.executable, "-c", FLOOD, url, str(LOGINS)]
    flood = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert flood.stdout.readline().strip() == "ready"
    flood.stdin.write("go\n")
    flood.stdin.flush()
    latencies = scheduled_hops(
        url, 10_000 * attempt + 5000, lambda: flood.poll() is None, at_least_s=WINDOW_S
    )
    answers = {int(status): n for status, n in json.loads(flood.communicate(timeout=60)[0]).items()}
    print(f"\nhops alone: {_summary(baseline)}\nhops during {LOGINS} logins: {_summary(latencies)}")
    print(f"logins answered: {answers}")
    return baseline, latencies, answers


@pytest.mark.slow
def test_twenty_logins_at_once_keep_citizens_hops_under_100_ms(gateway):
    """Three tries, because this machine is shared with other work: a try whose hops alone, before
    or after the logins, miss half the budget (p99 50 ms) measures the neighbours, not the gateway,
    and decides nothing.
    The best deciding try must keep the hops' p99 during the logins under 100 ms (logins holding
    the hop's threads cost seconds in every try, so one neighbour's burst cannot hide that); the
    test is skipped only when no try could decide."""
    for n in range(20):  # warm up: connections, first screens rendered
        hop(gateway.url, n)
    decided = []
    for attempt in range(1, 4):
        baseline, latencies, answers = flood_once(gateway.url, attempt)
        # every login was answered: refused after a real hash (401) or told to retry (503), never a 500
        assert set(answers) <= {401, 503} and sum(answers.values()) == LOGINS and answers.get(401, 0) >= 1
        # quiet before and after the logins, or the neighbours (other tests, the drill) were measured
        after = scheduled_hops(gateway.url, 10_000 * attempt + 8_000, lambda: False, at_least_s=WINDOW_S)
        if max(_percentile(baseline, 0.99), _percentile(after, 0.99)) < HOP_P99_LIMIT_S / 2:
            decided.append((_percentile(latencies, 0.99), _summary(latencies)))
    if not decided:
        pytest.skip("the machine was too loaded to measure in three tries (hops alone missed 50 ms p99)")
    assert min(p99 for p99, _ in decided) < HOP_P99_LIMIT_S, [summary for _, summary in decided]

"""A real ``serkit serve`` process on 127.0.0.1 under a bounded load: 200 requests, 8 at a time, no errors.

The latencies (p50, p95) and the throughput are printed (``pytest -s`` shows them), not asserted: times belong to
benchmarks, not tests.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from .conftest import LABELS

pytest.importorskip("fastapi", reason='serkit serve needs fastapi: pip install "serkit[serve]"')
pytest.importorskip("uvicorn", reason='serkit serve needs uvicorn: pip install "serkit[serve]"')
httpx = pytest.importorskip("httpx", reason="the load test talks to the server with httpx")

REQUESTS = 200
AT_ONCE = 8


def test_server_answers_a_bounded_load_without_errors(server, clips):
    assert httpx.get(f"{server}/labels").json() == {"labels": LABELS}
    bodies = {name: clips[name].read_bytes() for name in ("short", "medium", "silent")}
    names = [("short", "medium", "silent")[i % 3] for i in range(REQUESTS)]
    with httpx.Client(base_url=server, timeout=120) as client:

        def request(name: str) -> tuple[str, int, dict, float]:
            start = time.perf_counter()
            response = client.post("/predict", files={"file": (f"{name}.wav", bodies[name])})
            return name, response.status_code, response.json(), time.perf_counter() - start

        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
            results = list(pool.map(request, names))
        wall = time.perf_counter() - began
    failures = [(name, status, body) for name, status, body, _ in results if status != 200]
    assert not failures, failures[:3]
    by_name: dict[str, set[str]] = {}
    for name, _, body, _ in results:
        by_name.setdefault(name, set()).add(body["label"])
    assert all(len(labels) == 1 for labels in by_name.values()), by_name  # the same file, the same answer
    assert by_name["silent"] == {"no_speech"}
    latencies = np.array([seconds for *_, seconds in results]) * 1000
    print(
        f"\nserkit serve: {REQUESTS} requests, {AT_ONCE} at a time: {REQUESTS / wall:.1f} requests/s, "
        f"latency p50 {np.percentile(latencies, 50):.0f} ms, p95 {np.percentile(latencies, 95):.0f} ms"
    )

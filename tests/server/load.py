"""Many clients registering people at once against a running server (tests and the bench)."""

from __future__ import annotations

import gc
import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class ClientResult:
    answers: list[dict[str, object]] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)


def person(client: int, n: int) -> dict[str, object]:
    return {
        "household": f"H-load-{client:03d}-{n // 4:04d}",
        "site": "azovstal",
        "age_band": ("0-4", "5-11", "12-17", "18-59", "60+")[n % 5],
        "sex": ("female", "male")[n % 2],
        "destination": ("zaporizhzhia", "bezimenne")[n % 3 == 0],
        "given_name": f"Load{client}",
        "family_name": f"Person{n}",
        "submission_id": f"load-{client}-{n}",
    }


def register_many(
    base_url: str, token: str, clients: int, each: int, path: str = "/api/v1/registrations"
) -> tuple[list[ClientResult], float]:
    """``clients`` threads, each with its own keep-alive connection, each registering ``each``
    people one request at a time; returns every client's answers and the wall time."""
    url = urlsplit(base_url)
    results = [ClientResult() for _ in range(clients)]
    start = threading.Barrier(clients + 1)

    def run(k: int) -> None:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        out = results[k]
        start.wait()
        for n in range(each):
            body = json.dumps(person(k, n))
            t0 = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            out.latencies.append(time.perf_counter() - t0)
            if response.status in (200, 201):
                out.answers.append(json.loads(data))
            else:
                out.errors.append((response.status, data.decode(errors="replace")[:200]))
        conn.close()

    threads = [threading.Thread(target=run, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    collecting = gc.isenabled()
    gc.disable()  # the clients' own collections would show up as the server's latency
    try:
        start.wait()
        t0 = time.perf_counter()
        for t in threads:
            t.join()
        return results, time.perf_counter() - t0
    finally:
        if collecting:
            gc.enable()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

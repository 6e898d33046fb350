"""The status read path: GET /v1/jobs/{id} under load, through the Service proxy as clients
reach it, beside its two references, in ONE run (issue 13, item 2).

What runs: a real master + 1 worker, the in-process mock OAuth server, three job APIs
(``python -m spark_api``: OIDC auth; SPARK_API_AUTH_MODE=disabled; OIDC with two workers), and
the process backend's Service proxy (``python -m simulator.backends.process.proxy``, the very
process that serves ClusterIP Services) in front of them. Two real jobs: one FINISHED (pi), one RUNNING
(sleep), since a terminal state may be cached for good but a running one may not.

Variants, measured in alternating rounds so that the load of a shared machine falls on each alike:

- ``jwt_running``: GET /v1/jobs/{running} through the Service, a real signed JWT on every request
  (16 clients, each with its own token from the mock issuer): the aim (>= 1,000 req/s, p99 <=
  50 ms);
- ``jwt_finished``: the same on the FINISHED job;
- ``noauth_running``: the same route of the auth-disabled API (reference 1: what auth costs);
- ``bare``: GET /healthz through the Service (reference 2: the ceiling of server + proxy + client
  on this machine);
- ``jwt_running_direct``: as ``jwt_running`` but straight to the API (what the proxy costs);
- ``jwt_running_2workers``: as ``jwt_running`` with SPARK_API_WORKERS=2 (one process per core).

Each variant also records the CPU time per answered request of the API (with its workers), the
proxy and the load generator: unlike req/s, that hardly depends on the neighbours' load, so a
noisy run still shows what a quiet one can reach (cores / the sum).

The load generator is a lean HTTP/1.1 keep-alive client on raw asyncio streams (one connection
per client, like wrk/hey), so the measuring costs the 2 shared cores as little as possible; it
checks every answer's status and reads every body.

``BENCH_API_PROFILE=1`` also samples the OIDC API with py-spy (``pip install py-spy``) during
the first ``jwt_running`` round and records the functions that hold the most samples
(inclusive, idle excluded): where the time of a status read goes.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import machine
from simulator.local import JobApi, free_loopback
from simulator.local.api import API_DIR
from simulator.local.base import host_env
from simulator.run import REPO
from spark_stack_client import client_credentials_token

CONCURRENCY = 16
ROUNDS = int(os.environ.get("BENCH_API_ROUNDS", "2"))
MAX_REQUESTS = int(os.environ.get("BENCH_API_REQUESTS", "4000"))
MAX_SECONDS = float(os.environ.get("BENCH_API_SECONDS", "8"))
DISABLED_KEY = b"spark-api-auth-disabled"  # settings.secret_bytes with auth disabled
AIM = {"per_second": 1000.0, "p99_ms": 50.0}


class ServiceProxy:
    """The process backend's Service proxy as its own process, listening on ``ip`` for
    ``targets`` ({port: (host, port)}); stopped (and its files kept for reading) by ``stop``."""

    def __init__(self, base: Path, targets: dict[int, tuple[str, int]]) -> None:
        self.ip, _ = free_loopback()
        self.config = base / "proxy.json"
        listeners = [{"service": f"svc-{port}", "ip": self.ip, "port": port,
                      "targets": [list(target)]} for port, target in targets.items()]
        content = json.dumps({"listeners": listeners}).encode()
        self.config.write_bytes(content)
        self.sha = hashlib.sha256(content).hexdigest()
        self.log = base / "proxy.log"
        self.ports = list(targets)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 15.0) -> ServiceProxy:
        env = host_env()
        env["PYTHONPATH"] = str(REPO)
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "simulator.backends.process.proxy", str(self.config)],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        applied = self.config.with_name(self.config.name + ".applied")
        deadline = time.monotonic() + timeout
        while not (applied.exists() and applied.read_text() == self.sha):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the Service proxy did not start:\n{self.log.read_text()}")
            time.sleep(0.05)
        for port in self.ports:
            with socket.create_connection((self.ip, port), timeout=5):
                pass
        return self

    def url(self, port: int) -> str:
        return f"http://{self.ip}:{port}"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


async def _client(host: str, port: int, request: bytes, latencies: list[float],
                  statuses: dict[int, int], budget: list[int], deadline: float) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while budget[0] > 0 and time.perf_counter() < deadline:
            budget[0] -= 1
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def _load(url: str, path: str, tokens: list[str | None],
                seconds: float = MAX_SECONDS) -> dict[str, Any]:
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    budget = [MAX_REQUESTS]
    requests = []
    for token in tokens:
        auth = f"Authorization: Bearer {token}\r\n" if token else ""
        requests.append(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
                        "Accept: application/json\r\n\r\n".encode())
    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(_client(host, port, request, latencies, statuses, budget, deadline)
                           for request in requests))
    wall = time.perf_counter() - began
    ordered = sorted(latencies)
    return {"requests": len(ordered), "seconds": round(wall, 3),
            "per_second": len(ordered) / wall, "statuses": statuses,
            "p50_ms": 1000 * statistics.median(ordered),
            "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(0.99 * (len(ordered) - 1)))]}


def _pyspy(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes]:
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([pyspy, "record", "--pid", str(pid), "--format", "raw", "--rate",
                             "200", "--duration", str(int(seconds)), "--output", str(out),
                             "--nonblocking"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


# Where a read's time goes: the API's own functions, and the library entry points that stand for a
# stage of the request (parse/write, dependencies, serialization, JWT, the master call).
_STAGES = ("spark_api/", "H11Protocol.data_received", "HttpToolsProtocol.data_received",
           "RequestResponseCycle.send", "solve_dependencies", "serialize_response",
           "jwt.py", "AsyncClient.send", "run_in_threadpool")


def _frame(raw: str) -> str:
    """'func (path/file.py:12)' -> 'func (path/file.py)'."""
    name, _, where = raw.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else raw


def profile_summary(raw: Path, top: int = 12) -> dict[str, Any]:
    """py-spy's collapsed stacks -> the event-loop thread's busy samples: the share each stage
    is on the stack of (inclusive) and the functions that burn most themselves (self)."""
    inclusive: dict[str, int] = {}
    itself: dict[str, int] = {}
    busy = idle = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [_frame(f) for f in stack.split(";")]
        if not any("Server.run (uvicorn" in f for f in frames):
            continue  # other threads (the metrics server, thread-pool workers waiting)
        n = int(count)
        # waiting for events: in the selector, or inside uvloop's C loop (seen as Runner.run)
        if frames[-1].startswith(("select (", "_PollLikeSelector.select", "Runner.run (")):
            idle += n
            continue
        busy += n
        itself[frames[-1]] = itself.get(frames[-1], 0) + n
        for frame in set(frames):
            if any(mark in frame for mark in _STAGES) and "spark_api/__main__" not in frame:
                inclusive[frame] = inclusive.get(frame, 0) + n

    def ranked(counts: dict[str, int]) -> dict[str, float]:
        best = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return {name: round(n / max(1, busy), 3) for name, n in best}

    return {"busy_samples": busy, "idle_samples": idle,
            "stages_inclusive_share_of_busy": ranked(inclusive),
            "self_share_of_busy": ranked(itself)}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (uvicorn's worker processes)."""
    try:
        process = psutil.Process(pid)
        processes = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for one in processes:
        try:
            times = one.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _disabled_job_id(driver_id: str, job: str) -> str:
    """The id the auth-disabled API gives the same driver (its owner is 'anonymous')."""
    sys.path.insert(0, str(API_DIR))
    from spark_api.ownership import Ownership  # the API's own code, not a copy of its rule

    ownership = Ownership(DISABLED_KEY)
    return ownership.job_id(driver_id, job, ownership.owner_tag("anonymous"))


def measure(*, api: JobApi, noauth_api: JobApi, workers_api: JobApi, token_url: str, client: tuple[str, str],
            finished_id: str, running_id: str, base: Path) -> dict[str, Any]:
    """Run every variant ROUNDS times, alternating; returns the section recorded in api.json."""
    proxy = ServiceProxy(base, {one.port: (one.ip, one.port)
                                for one in (api, noauth_api, workers_api)}).start()
    try:
        tokens: list[str | None] = [client_credentials_token(token_url, *client) for _ in range(CONCURRENCY)]
        anonymous: list[str | None] = [None] * CONCURRENCY
        running_noauth = _disabled_job_id(running_id.split(".")[0], running_id.split(".")[1])
        variants = {
            "jwt_running": (proxy.url(api.port), f"/v1/jobs/{running_id}", tokens),
            "jwt_finished": (proxy.url(api.port), f"/v1/jobs/{finished_id}", tokens),
            "noauth_running": (proxy.url(noauth_api.port), f"/v1/jobs/{running_noauth}",
                               anonymous),
            "bare": (proxy.url(api.port), "/healthz", anonymous),
            "jwt_running_direct": (api.url, f"/v1/jobs/{running_id}", tokens),
            "jwt_running_2workers": (proxy.url(workers_api.port), f"/v1/jobs/{running_id}",
                                     tokens),
        }
        for name, (url, path, toks) in variants.items():  # warm-up, not counted
            with httpx.Client(base_url=url, timeout=30) as http:
                headers = {"Authorization": f"Bearer {toks[0]}"} if toks[0] else {}
                response = http.get(path, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"{name}: GET {path} -> {response.status_code} "
                                       f"{response.text[:300]}")
        for url, path, toks in variants.values():  # a short unrecorded pass: warm, settled
            asyncio.run(_load(url, path, toks, seconds=1.0))
        rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        profile: dict[str, Any] | None = None
        for n in range(ROUNDS):
            for name, (url, path, toks) in variants.items():
                spy = None
                if n == 0 and name == "jwt_running" and os.environ.get("BENCH_API_PROFILE"):
                    assert api.process is not None
                    spy = _pyspy(api.process.pid, base / "profile.txt", MAX_SECONDS)
                serving = (noauth_api if name.startswith("noauth")
                           else workers_api if name.endswith("2workers") else api)
                who = {"api": serving.process,
                       "proxy": None if name.endswith("_direct") else proxy.process}
                pids = {k: v.pid for k, v in who.items() if v is not None}
                cpu_before = {k: _cpu_seconds(pid) for k, pid in pids.items()}
                client_before = psutil.Process().cpu_times()
                result = asyncio.run(_load(url, path, toks))
                client_after = psutil.Process().cpu_times()
                cpu = {k: _cpu_seconds(pid) - cpu_before[k] for k, pid in pids.items()}
                cpu["client"] = (client_after.user + client_after.system
                                 - client_before.user - client_before.system)
                # CPU per answered request: independent of the neighbours' load (to a point),
                # so a noisy run still says what a quiet one can reach.
                result["cpu_ms_per_request"] = {k: round(1000 * v / max(1, result["requests"]),
                                                         3) for k, v in cpu.items()}
                if spy is not None:
                    _, err = spy.communicate(timeout=60)
                    if spy.returncode != 0:
                        raise RuntimeError(f"py-spy failed: {err.decode()[-500:]}")
                    profile = profile_summary(base / "profile.txt")
                result["loadavg_1m"] = os.getloadavg()[0]
                rounds[name].append(result)
                print(f"[bench api] round {n + 1}/{ROUNDS} {name:20s} "
                      f"{result['per_second']:7.0f} req/s  p50 {result['p50_ms']:6.1f} ms  "
                      f"p99 {result['p99_ms']:6.1f} ms  statuses {result['statuses']}  CPU ms/req "
                      f"{result['cpu_ms_per_request']}",
                      flush=True)
    finally:
        proxy.stop()
    best = {name: max(results, key=lambda r: r["per_second"]) for name, results in rounds.items()}
    for name, result in best.items():
        bad = {s: c for s, c in result["statuses"].items() if s != 200}
        if bad:
            raise RuntimeError(f"{name}: non-200 answers under load: {bad}")
    aim = best["jwt_running"]
    return {
        "concurrency": CONCURRENCY, "rounds": ROUNDS, "max_requests": MAX_REQUESTS,
        "max_seconds": MAX_SECONDS, "machine": machine(),
        "client": "lean asyncio HTTP/1.1 keep-alive, one connection per client, own token each",
        "path": "through the process backend's Service proxy, except *_direct",
        "best_round": best, "all_rounds": rounds, "profile_jwt_running": profile,
        "aim": {**AIM, "met": aim["per_second"] >= AIM["per_second"]
                and aim["p99_ms"] <= AIM["p99_ms"]},
    }


def report(section: dict[str, Any]) -> None:
    print(f"\n  GET /v1/jobs/{{id}}, {section['concurrency']} clients, best of "
          f"{section['rounds']} alternating rounds (load 1m {section['machine']['loadavg_1m']:.2f}"
          f" on {section['machine']['cpus']} cores):")
    for name, result in section["best_round"].items():
        cpu = result["cpu_ms_per_request"]
        print(f"    {name:20s} {result['per_second']:7.0f} req/s  p50 {result['p50_ms']:6.1f} ms"
              f"  p99 {result['p99_ms']:6.1f} ms  CPU/req: "
              + ", ".join(f"{k} {v:.2f} ms" for k, v in cpu.items()))
    print("  CPU per request, median over the rounds (a quiet machine's ceiling is about "
          "cores / the sum; the API alone tops out near 1 / its own (all its processes)):")
    for name, results in section["all_rounds"].items():
        med = {k: statistics.median(r["cpu_ms_per_request"][k] for r in results)
               for k in results[0]["cpu_ms_per_request"]}
        total = sum(med.values())
        print(f"    {name:20s} " + ", ".join(f"{k} {v:.2f}" for k, v in med.items())
              + f" ms -> all on {section['machine']['cpus']} cores <= "
              f"{1000 * (section['machine']['cpus'] or 1) / max(total, 1e-9):.0f} req/s, "
              f"the API alone <= {1000 / max(med['api'], 1e-9):.0f} req/s")
    if section.get("profile_jwt_running"):
        profile = section["profile_jwt_running"]
        print(f"  where a jwt_running read spends the API's busy time (py-spy, "
              f"{profile['busy_samples']} busy samples, {profile['idle_samples']} idle):")
        for kind in ("stages_inclusive_share_of_busy", "self_share_of_busy"):
            print(f"   {kind}:")
            for name, share in profile[kind].items():
                print(f"    {100 * share:5.1f}%  {name}")
    aim = section["aim"]
    print(f"    aim jwt_running >= {aim['per_second']:.0f} req/s, p99 <= {aim['p99_ms']:.0f} ms: "
          f"{'met' if aim['met'] else 'NOT met'}")

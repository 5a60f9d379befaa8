"""Benchmark the local cloud: warm latency and throughput, cold starts, idle memory.

Run by hand (never in CI): `.venv/bin/python bench/bench_local_cloud.py [--deployments 1000]`.
It starts its own host in a temporary state dir, prints a Markdown report, and stops the host.
Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path, PurePosixPath

import httpx

from reconciler import logs
from reconciler.adapters.local.cloud import LocalCloud
from reconciler.adapters.local.engine import PROGRAM_VERSION, LocalEngine
from reconciler.adapters.local.functions.workers import FunctionConfig, FunctionPool
from reconciler.adapters.local.registration import Function, Gateway, Registration
from reconciler.domain.values import Fingerprint, Revision
from reconciler.manifest import loader
from reconciler.ports import ApplyRequest

FUNCTIONS = Path(__file__).parent / "functions"
MANIFEST = """\
apiVersion: reconciler/v1
kind: RestApi
metadata: {{name: {name}}}
spec:
  provider: local
  function: {{runtime: {runtime}, handler: {handler}, source: fn}}
  routes: ["GET /ping"]
"""


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def ms(seconds: float) -> str:
    if seconds < 0.0001:
        return f"{seconds * 1_000_000:.1f} µs"
    return f"{seconds * 1000:.2f} ms"


def deploy(engine: LocalEngine, name: str, *, runtime: str, handler: str, folder: str) -> str:
    text = MANIFEST.format(name=name, runtime=runtime, handler=handler)
    (parsed,) = loader.parse_text(text, file="b.yaml", location=PurePosixPath("b.yaml")).manifests
    revision = Revision(hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest())
    request = ApplyRequest(
        spec=parsed.spec,
        revision=revision,
        fingerprint=Fingerprint.compute(
            parsed.spec, source_tree=name, program_version=PROGRAM_VERSION
        ),
        source_dir=FUNCTIONS / folder,
    )
    endpoint = engine.apply(request).endpoint
    assert endpoint is not None
    return endpoint


def in_process(requests: int) -> list[float]:
    spec = importlib.util.spec_from_file_location("noop", FUNCTIONS / "noop-py" / "app.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    event = {"rawPath": "/live/ping", "routeKey": "GET /ping"}
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        module.handler(event, None)
        samples.append(time.perf_counter() - started)
    return samples


def sequential(url: str, requests: int) -> list[float]:
    samples = []
    with httpx.Client(timeout=30) as client:
        for _ in range(50):
            client.get(url)
        for _ in range(requests):
            started = time.perf_counter()
            response = client.get(url)
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200
    return samples


async def concurrent(url: str, requests: int, concurrency: int) -> float:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        remaining = iter(range(requests))

        async def worker() -> None:
            for _ in remaining:
                response = await client.get(url)
                assert response.status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return requests / (time.perf_counter() - started)


async def cold_starts(
    runtime: str, handler: str, folder: str, rounds: int
) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    config = FunctionConfig(
        deployment="bench",
        version="v1",
        runtime=runtime,
        handler=handler,
        code_dir=FUNCTIONS / folder,
    )
    for _ in range(rounds):
        pool = FunctionPool(config, max_workers=1)
        try:
            started = time.perf_counter()
            await pool.invoke({"rawPath": "/"}, request_id="cold")
            cold.append(time.perf_counter() - started)
            started = time.perf_counter()
            await pool.invoke({"rawPath": "/"}, request_id="warm")
            warm.append(time.perf_counter() - started)
        finally:
            await pool.close()
    return cold, warm


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def idle_memory(state_dir: Path, deployments: int) -> dict[str, str]:
    cloud = LocalCloud(state_dir, idle_timeout=1.0)
    info = cloud.ensure_running()
    empty = rss_kib(info.pid)
    code = FUNCTIONS / "noop-py"
    started = time.perf_counter()
    with cloud.started_client() as client:
        for index in range(deployments):
            client.put(
                Registration(
                    name=f"idle-{index}",
                    kind="RestApi",
                    revision="0" * 40,
                    fingerprint="f",
                    version="v1",
                    function=Function(
                        runtime="python3.11",
                        handler="app.handler",
                        code_dir=str(code),
                        code_digest="d",
                    ),
                    gateway=Gateway(routes=["GET /ping"]),
                )
            )
    registering = time.perf_counter() - started
    time.sleep(4)  # let the host reap every warm-up worker (idle timeout 1 s)
    loaded = rss_kib(info.pid)
    cloud.stop()
    started = time.perf_counter()
    info = cloud.ensure_running()
    restart = time.perf_counter() - started
    restored = rss_kib(info.pid)
    with cloud.started_client() as client:
        served = len(client.list())
    cloud.stop()
    return {
        "host RSS, no deployments": f"{empty / 1024:.1f} MiB",
        f"host RSS, {deployments} idle deployments (after registering)": f"{loaded / 1024:.1f} MiB",
        f"host RSS, {deployments} idle deployments (after a restart)": f"{restored / 1024:.1f} MiB",
        "per idle deployment (after a restart)": f"{(restored - empty) / deployments:.1f} KiB",
        f"registering {deployments} (each warm-up starts a worker)": f"{registering:.1f} s",
        f"host restart serving {served} deployments": f"{restart:.2f} s",
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--deployments", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    logs.configure(stream=sys.stderr, level="warning")  # stdout is the report
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as temporary:
        state_dir = Path(temporary)
        cloud = LocalCloud(state_dir / "a", max_workers=4)
        engine = LocalEngine(state_dir / "a", cloud=cloud)
        try:
            python_url = (
                deploy(
                    engine,
                    "bench-py",
                    runtime="python3.11",
                    handler="app.handler",
                    folder="noop-py",
                )
                + "/ping"
            )
            node_url = (
                deploy(
                    engine,
                    "bench-node",
                    runtime="nodejs20.x",
                    handler="index.handler",
                    folder="noop-node",
                )
                + "/ping"
            )
            base = in_process(args.requests)
            rows.append(
                (
                    "in-process handler call, p50 / p99",
                    f"{ms(percentile(base, 0.5))} / {ms(percentile(base, 0.99))}",
                )
            )
            for label, url in (("Python", python_url), ("Node.js", node_url)):
                samples = sequential(url, args.requests)
                rows.append(
                    (
                        f"{label} warm request through the host, p50 / p99",
                        f"{ms(percentile(samples, 0.5))} / {ms(percentile(samples, 0.99))}",
                    )
                )
                for concurrency in (1, 4):
                    rate = asyncio.run(concurrent(url, args.requests, concurrency))
                    rows.append(
                        (
                            f"{label} throughput, {concurrency} concurrent client(s)",
                            f"{rate:.0f} req/s",
                        )
                    )
        finally:
            cloud.stop()
        for label, runtime, handler, folder in (
            ("Python", "python3.11", "app.handler", "noop-py"),
            ("Node.js", "nodejs20.x", "index.handler", "noop-node"),
        ):
            cold, warm = asyncio.run(cold_starts(runtime, handler, folder, args.rounds))
            rows.append(
                (
                    f"{label} cold start (spawn + load + first invoke), median of {args.rounds}",
                    ms(statistics.median(cold)),
                )
            )
            rows.append(
                (
                    f"{label} warm invoke in the pool (no HTTP), median of {args.rounds}",
                    ms(statistics.median(warm)),
                )
            )
        rows.extend(idle_memory(state_dir / "b", args.deployments).items())
    print(
        f"Machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}, "
        f"{sys.platform}, 2 cores shared by client and host\n"
    )
    print("| measure | result |\n|---|---|")
    for measure, result in rows:
        print(f"| {measure} | {result} |")


if __name__ == "__main__":
    main()

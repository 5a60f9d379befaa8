"""Benchmark the GitOps loop: tick time and memory by repository size, engine calls per commit,
and commit-to-serving latency on the real local cloud.

Run by hand (never in CI): `.venv/bin/python bench/bench_loop.py`. Each repository size runs in
its own process so peak memory is its own. Results are recorded in docs/performance.md.

To measure the loop alone at sizes the local cloud is not meant for, the tick-scaling runs use a
counting engine that records calls and deploys nothing; the latency run uses the real local cloud.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
from loopkit import GitRepo, make_app  # noqa: E402  # the same repository kit the tests use

from reconciler import logs  # noqa: E402
from reconciler.application.drift import DriftChecker  # noqa: E402
from reconciler.application.reconcile import Reconciler  # noqa: E402
from reconciler.domain.changes import Plan  # noqa: E402
from reconciler.domain.drift import DriftFinding  # noqa: E402
from reconciler.domain.values import Provider  # noqa: E402
from reconciler.ports import ApplyRequest, ApplyResult, LiveState  # noqa: E402


@dataclass
class CountingEngine:
    """Deploys nothing; counts what the loop asks of it."""

    program_version: str = "counting/1"
    applies: list[str] = field(default_factory=list)

    def plan(self, request: ApplyRequest) -> Plan:
        return Plan()

    def apply(self, request: ApplyRequest) -> ApplyResult:
        self.applies.append(request.spec.name)
        return ApplyResult(endpoint=None)  # No endpoint: no health check to wait for.

    def detect_drift(self, name: str) -> tuple[DriftFinding, ...]:
        return ()

    def destroy(self, name: str) -> None:
        return None

    def describe(self, name: str) -> LiveState | None:
        return None


def build_repo(root: Path, count: int) -> GitRepo:
    repo = GitRepo(root)
    for index in range(count):
        repo.deployment(f"api-{index:05d}")
    repo.write("README.md", "bench\n")
    repo.commit(f"{count} deployments")
    return repo


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def one_size(count: int) -> dict[str, object]:
    """Run in a child process: build a repo of `count` manifests and measure its ticks."""
    logs.configure(stream=sys.stderr, level="error")
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        repo = build_repo(root / "repo", count)
        app = make_app(repo, root / "state")
        engine = CountingEngine()
        app.services.engines = {Provider.LOCAL: engine}
        app.reconciler = Reconciler(app.services)
        app.drift = DriftChecker(app.reconciler)
        first = timed(app.reconciler.tick)
        first_calls = len(engine.applies)
        # The daemon's drift job reads every record every 30 s; it runs in this process too.
        poll_first = timed(app.store.load_all)
        poll_later = timed(app.store.load_all)
        idle = timed(app.reconciler.tick)
        repo.write("README.md", "unrelated change\n")
        repo.commit("touch nothing deployed")
        unrelated = timed(app.reconciler.tick)
        unrelated_calls = len(engine.applies) - first_calls
        changed = [f"api-{index:05d}" for index in range(0, count, max(1, count // 3))][:3]
        for name in changed:
            repo.deployment(name, version="v2")
        repo.commit("change three")
        before = len(engine.applies)
        three = timed(app.reconciler.tick)
        three_calls = sorted(engine.applies[before:])
        app.close()
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "count": count,
        "first_tick_s": first,
        "first_tick_engine_calls": first_calls,
        "poll_first_ms": poll_first * 1000,
        "poll_later_ms": poll_later * 1000,
        "idle_tick_ms": idle * 1000,
        "unrelated_commit_tick_ms": unrelated * 1000,
        "unrelated_commit_engine_calls": unrelated_calls,
        "three_changed_tick_ms": three * 1000,
        "three_changed_engine_calls": len(three_calls),
        "changed_as_expected": three_calls == sorted(changed),
        "peak_rss_mib": peak_mib,
    }


def latency(rounds: int) -> list[float]:
    """Commit to serving on the real local cloud: one tick picks the commit up and applies it."""
    logs.configure(stream=sys.stderr, level="error")
    samples = []
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        repo = build_repo(root / "repo", 1)
        app = make_app(repo, root / "state")
        app.reconciler.tick()
        endpoint = app.store.load("api-00000").endpoint
        try:
            for round_ in range(rounds):
                repo.deployment("api-00000", version=f"r{round_}")
                repo.commit(f"round {round_}")
                started = time.perf_counter()
                app.reconciler.tick()
                body = httpx.get(endpoint + "/hello", timeout=30).json()
                samples.append(time.perf_counter() - started)
                assert body["version"] == f"r{round_}", body
        finally:
            from reconciler.adapters.local.cloud import LocalCloud  # noqa: PLC0415

            LocalCloud(root / "state").stop()
            app.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,100,1000,5000")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(one_size(args.child)))
        return
    print(
        "| manifests | first tick (applies all) | drift poll reads every record: first, later | idle tick (Git unchanged) | tick after an unrelated commit | tick after a commit changing 3 | engine calls for that commit | peak RSS |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run(
            [sys.executable, __file__, "--child", str(size)],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ},
        )
        r = json.loads(done.stdout.strip().splitlines()[-1])
        assert r["unrelated_commit_engine_calls"] == 0 and r["changed_as_expected"], r
        print(
            f"| {size} | {r['first_tick_s']:.2f} s ({r['first_tick_engine_calls']} applies) "
            f"| {r['poll_first_ms']:.0f} ms, {r['poll_later_ms']:.0f} ms "
            f"| {r['idle_tick_ms']:.1f} ms | {r['unrelated_commit_tick_ms']:.0f} ms (0 engine calls) "
            f"| {r['three_changed_tick_ms']:.0f} ms | {r['three_changed_engine_calls']} "
            f"| {r['peak_rss_mib']:.0f} MiB |"
        )
    samples = sorted(latency(args.rounds))
    print(
        f"\nCommit to serving on the local cloud (one tick: read Git, export, register, warm up, "
        f"health check, first request), {args.rounds} rounds: median {samples[len(samples) // 2] * 1000:.0f} ms, "
        f"max {samples[-1] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()

"""Benchmark building a cloud package: time and zip size, with and without dependencies.

Run by hand (never in CI): `.venv/bin/python bench/bench_packaging.py`. Builds the Azure package
(source, shim and dependencies from the real registries) and the AWS package of the same source
through the real programs, first with empty pip and npm caches, then warm. Results are recorded
in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path, PurePosixPath

from reconciler.adapters.pulumi.aws import AwsPrograms
from reconciler.adapters.pulumi.azure import AzurePrograms
from reconciler.adapters.pulumi.program import ProgramBuilder
from reconciler.domain.values import DeploymentSpec, Fingerprint, Revision
from reconciler.manifest.loader import parse_text
from reconciler.ports import ApplyRequest

REPO = Path(__file__).resolve().parent.parent
MANIFEST = """\
apiVersion: reconciler/v1
kind: RestApi
metadata: {{name: bench}}
spec:
  provider: {provider}
  {place}
  function: {{runtime: {runtime}, handler: {handler}, source: ../f}}
  routes: ["GET /items/{{id}}", "$default"]
"""
CASES = {
    # (runtime, handler file, dependency file and its text)
    "python, no dependencies": ("python3.11", "echo.py", None),
    "python + requests": ("python3.11", "echo.py", ("requirements.txt", "requests==2.32.3\n")),
    "node, no dependencies": ("nodejs20.x", "echo.js", None),
    "node + nanoid": (
        "nodejs20.x",
        "echo.js",
        ("package.json", '{"dependencies": {"nanoid": "3.3.7"}}'),
    ),
}


def spec_of(provider: str, runtime: str) -> DeploymentSpec:
    place = "region: eu-west-1" if provider == "aws" else "location: westeurope"
    handler = "echo.handler"
    text = MANIFEST.format(provider=provider, place=place, runtime=runtime, handler=handler)
    loaded = parse_text(text, file="m.yaml", location=PurePosixPath("manifests/m.yaml"))
    return loaded.manifests[0].spec


def build(
    builder: ProgramBuilder, spec: DeploymentSpec, source: Path, work: Path
) -> tuple[float, int]:
    request = ApplyRequest(spec, Revision("a" * 40), Fingerprint("f" * 64), source_dir=source)
    (target, *_) = builder.targets(spec)
    started = time.perf_counter()
    builder.program(request, target=target, workdir=work)
    elapsed = time.perf_counter() - started
    return elapsed, (work / f"{target.stack}.zip").stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--warm-rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        # Empty caches for the cold run; the warm runs reuse them, as a long-running daemon does.
        os.environ["PIP_CACHE_DIR"] = str(root / "pip-cache")
        os.environ["npm_config_cache"] = str(root / "npm-cache")
        builders: dict[str, ProgramBuilder] = {
            "aws": AwsPrograms(),
            "azure": AzurePrograms(webhook_key=b"k" * 32),
        }
        print("| package | provider | cold | warm (median) | zip |")
        print("|---|---|---|---|---|")
        for label, (runtime, handler, dependency) in CASES.items():
            for provider, builder in builders.items():
                source = root / f"{label}-{provider}-source".replace(" ", "_")
                source.mkdir()
                (source / handler).write_bytes(
                    (REPO / "tests/fixtures/azure/handlers" / handler).read_bytes()
                )
                if dependency:
                    (source / dependency[0]).write_text(dependency[1])
                spec = spec_of(provider, runtime)
                work = root / "work"
                cold, size = build(builder, spec, source, work)
                warm = [build(builder, spec, source, work)[0] for _ in range(args.warm_rounds)]
                print(
                    f"| {label} | {provider} | {cold:.2f} s | {statistics.median(warm):.2f} s"
                    f" | {size / 1024:.0f} KiB |"
                )


if __name__ == "__main__":
    main()

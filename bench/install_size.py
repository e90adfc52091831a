"""``make bench-install``: what each extra costs its users, next to the single environment every
user installed before the split (all extras together), in one run with one pip cache.

Each row is a fresh venv (without pip of its own) into which this run's pip installs the wheel
built from this tree with that extra, as ``pip install "imagegen[EXTRA]"`` would. An untimed
install of everything first fills pip's cache, so every timed row finds the same cache: the times
are resolving, unpacking and bytecode compilation, not downloads. After the table: the largest
distributions of the MCP + CLI install, whose goal is under 100 MB.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "__pycache__", "*.egg-info", "build", "dist", "generated", ".*_cache"
)
# (row label, extras): base first, everything last.
ROWS = [
    ("base (CLI, REST client)", ""),
    ("service (boto3: what the Lambda ships)", "service"),
    ("mcp (MCP server and CLI)", "mcp"),
    ("mcp,service (MCP server in-process)", "mcp,service"),
    ("local (`make run`)", "local"),
    ("infra (Pulumi program, `make doctor`)", "infra"),
    ("all (`make test`; every user before the split)", "all"),
]
BREAKDOWN = "mcp"  # the row whose largest distributions are listed
LARGEST = 8


def run(*command: str | Path) -> None:
    subprocess.run([str(c) for c in command], check=True, capture_output=True, text=True)


def build_wheel(work: Path) -> Path:
    """The wheel of a copy of this tree (the build writes egg-info into its source)."""
    shutil.copytree(ROOT, work / "source", ignore=NOT_SOURCE)
    run(sys.executable, "-m", "build", "--wheel", "--outdir", work / "dist", work / "source")
    return next((work / "dist").glob("*.whl"))


def install(venv: Path, wheel: Path, extras: str) -> float:
    """Seconds ``pip install`` takes to put ``wheel[extras]`` into a new venv at ``venv``."""
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    requirement = f"imagegen{f'[{extras}]' if extras else ''} @ {wheel.as_uri()}"
    pip = [sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install"]
    started = time.perf_counter()
    run(*pip, "--quiet", "--disable-pip-version-check", requirement)
    return time.perf_counter() - started


def megabytes(path: Path, *du_options: str) -> float:
    """Disk usage as ``du`` reports it."""
    out = subprocess.run(["du", "-sk", *du_options, str(path)], capture_output=True, text=True)
    return int(out.stdout.split()[0]) / 1024


def by_distribution(site: Path) -> dict[str, float]:
    """Megabytes on disk of each distribution's files, counted as ``du`` counts them (allocated
    blocks) from its RECORD, which lists the bytecode pip compiled too."""
    usage = {}
    for record in site.glob("*.dist-info/RECORD"):
        blocks = 0
        with record.open(newline="") as rows:
            for row in csv.reader(rows):
                path = site / row[0]
                if row[0] and path.is_file():
                    blocks += path.stat().st_blocks
        usage[record.parent.name.split("-")[0]] = blocks * 512 / 2**20
    return usage


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="imagegen-install-") as tmp:
        work = Path(tmp)
        wheel = build_wheel(work)
        install(work / "warm-up", wheel, "all")
        shutil.rmtree(work / "warm-up")
        print(f"Python {sys.version.split()[0]}, wheel {wheel.name}, pip's cache warm")
        print()
        print("| extra | site-packages | without bytecode | distributions | install time |")
        print("| --- | --- | --- | --- | --- |")
        largest: dict[str, float] = {}
        for label, extras in ROWS:
            venv = work / (extras or "base")
            seconds = install(venv, wheel, extras)
            site = next((venv / "lib").glob("python3*/site-packages"))
            size = megabytes(site)
            source = megabytes(site, "--exclude=__pycache__")
            distributions = len(list(site.glob("*.dist-info")))
            print(
                f"| {label} | {size:.0f} MB | {source:.0f} MB | {distributions} |"
                f" {seconds:.1f} s |",
                flush=True,
            )
            if extras == BREAKDOWN:
                largest = by_distribution(site)
            shutil.rmtree(venv)
        print()
        print(f"| largest in `{BREAKDOWN}` | on disk |")
        print("| --- | --- |")
        ranked = sorted(largest.items(), key=lambda item: item[1], reverse=True)
        for name, size in ranked[:LARGEST]:
            print(f"| {name} | {size:.1f} MB |")
        rest = sum(size for _, size in ranked[LARGEST:])
        print(f"| {len(ranked) - LARGEST} others | {rest:.1f} MB |")


if __name__ == "__main__":
    main()

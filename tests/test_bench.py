"""Smoke tests of the benchmark scripts at tiny sizes: each runs to the end on its own dev
server(s) and prints its table and ratio (or the JSON fields). No timing assertions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COMPARISON_FIELDS = {"name", "a", "b", "metric", "ratio", "target", "meets", "rows"}
ROW_FIELDS = {"case", "throughput_per_s", "p50_ms", "p99_ms", "rounds", "states"}
LONG_RUN = 420
"""Seconds for the scripts that start many dev servers and workers (levers, run_all), run
next to the rest of the suite on parallel test workers; pytest-timeout gets a minute more,
so the subprocess's own timeout reports which script overstayed."""


def bench(*args: str, timeout: float = 240) -> str:
    result = subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def check(comparison: dict, cases: int, orders: int) -> None:
    assert set(comparison) >= COMPARISON_FIELDS
    assert comparison["ratio"] > 0
    assert len(comparison["rows"]) == cases
    for row in comparison["rows"]:
        assert set(row) >= ROW_FIELDS
        assert sum(row["states"].values()) == orders * row["rounds"]


@pytest.mark.parametrize(
    ("script", "args", "cases"),
    [
        ("bench.throughput", ["--orders", "3", "--concurrency", "2", "--rounds", "1"], 2),
        ("bench.durability", ["--orders", "3", "--concurrency", "2", "--rounds", "1"], 2),
        ("bench.latency", ["--orders", "2", "--rounds", "1"], 4),
    ],
)
def test_comparison_scripts_print_json(script, args, cases):
    comparison = json.loads(bench(script, *args, "--json"))
    check(comparison, cases, int(args[1]))
    assert all(state in ("COMPLETED",) for row in comparison["rows"] for state in row["states"])


def test_throughput_prints_a_table_and_a_ratio():
    out = bench("bench.throughput", "--orders", "2", "--concurrency", "2", "--rounds", "1")
    assert "OrderWorkflow" in out and "baseline" in out
    assert "ratio OrderWorkflow / baseline" in out and "target >= 0.9" in out


def test_api_script_prints_json():
    for comparison in json.loads(
        bench("bench.api", "--requests", "3", "--concurrency", "2", "--rounds", "1", "--json")
    ):
        check(comparison, 2, 3)


@pytest.mark.timeout(LONG_RUN + 60)
def test_levers_script_prints_json():
    tiny = ["--orders", "2", "--concurrency", "2", "--seq-orders", "2", "--rounds", "1"]
    levers = json.loads(bench("bench.levers", *tiny, "--json", timeout=LONG_RUN))
    assert len(levers) == 9
    for comparison in levers:
        check(comparison, 2, 2)


@pytest.mark.timeout(2 * LONG_RUN + 60)
def test_run_all_quick_writes_the_report_and_chart(tmp_path):
    bench("bench.run_all", "--quick", "--out", str(tmp_path), timeout=2 * LONG_RUN)
    report = (tmp_path / "performance.md").read_text()
    for heading in ("## Machine", "## Ratios", "## Levers, before / after", "## Reproduce"):
        assert heading in report
    assert "![throughput vs concurrency](throughput.png)" in report
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

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


def test_throughput_script_prints_json():
    """One script end to end through its own command line (the others share the same
    ``common_args``/``show`` path and run inside ``run_all`` below)."""
    comparison = json.loads(
        bench("bench.throughput", "--orders", "2", "--concurrency", "2", "--rounds", "1", "--json")
    )
    check(comparison, 3, 2)
    assert comparison["a"] == "OrderWorkflow" and comparison["b"].startswith("baseline")
    assert all(state == "COMPLETED" for row in comparison["rows"] for state in row["states"])


@pytest.mark.parametrize(
    "script", ["bench.durability", "bench.latency", "bench.api", "bench.levers", "bench.drills"]
)
def test_every_script_parses_its_command_line(script):
    assert "usage:" in bench(script, "--help", timeout=60)


@pytest.mark.timeout(LONG_RUN + 60)
def test_run_all_quick_runs_every_benchmark_and_writes_the_report(tmp_path):
    """Every measurement at tiny sizes, on the dev servers and worker processes each one
    starts: the headline comparisons, the levers, the sweep, the dispatch gaps and the
    worker profile, then the report, its chart and its JSON."""
    out = bench("bench.run_all", "--quick", "--out", str(tmp_path), timeout=LONG_RUN)
    assert "ratio OrderWorkflow / baseline" in out and "target >= 0.9" in out

    report = (tmp_path / "performance.md").read_text()
    for heading in ("## Machine", "## Ratios", "## Levers, before / after", "## Reproduce"):
        assert heading in report
    assert "![throughput vs concurrency](throughput.png)" in report
    assert (tmp_path / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    results = json.loads((tmp_path / "performance.json").read_text())
    quick = {"orders": 3, "seq_orders": 2, "api_requests": 3, "lever_orders": 2}
    expected = {  # name -> (cases, orders per case and round)
        "throughput": (3, quick["orders"]),
        "durability": (2, quick["orders"]),
        "latency": (4, quick["seq_orders"]),
    }
    headline = {comparison["name"]: comparison for comparison in results["headline"]}
    assert set(headline) >= set(expected)
    for name, (cases, orders) in expected.items():
        check(headline[name], cases, orders)
        rows = headline[name]["rows"]
        assert all(state == "COMPLETED" for row in rows for state in row["states"])
    api = [comparison for name, comparison in headline.items() if name not in expected]
    assert api, "the API comparisons are missing"
    for comparison in api:
        check(comparison, 2, quick["api_requests"])
    assert len(results["levers"]) == 9
    for comparison in results["levers"]:
        check(comparison, 2, quick["lever_orders"])
    assert [point["concurrency"] for point in results["sweep"]] == [1, 2]
    assert all(point["order_per_s"] > 0 for point in results["sweep"])
    assert set(results["dispatch_gaps"]) == {"server defaults", "low-latency config"}
    assert results["profile"]["samples"] > 0

    # The report is a pure function of its JSON: rendering it again changes nothing.
    again = tmp_path / "again"
    bench("bench.run_all", "--render-only", str(tmp_path / "performance.json"), "--out", str(again))
    assert (again / "performance.md").read_text() == report

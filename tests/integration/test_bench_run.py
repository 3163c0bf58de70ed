"""``python -m bench.run`` works: its harness, run cheaply (``--quick``). Nothing
here is a performance claim; the figures are only checked to be there."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bench.harness import parse_report

ROOT = Path(__file__).resolve().parents[2]


def test_quick_runs_print_figures_ratios_and_medians() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "diff", "local_store", "--quick", "--repeat", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    reports = parse_report(result.stdout)
    assert [r["bench"] for r in reports] == [
        "diff", "diff", "diff/median", "local_store", "local_store", "local_store/median",
    ]  # fmt: skip
    for figures in reports:
        assert figures["seconds"] > 0 and figures["ratio"] > 0
    assert reports[2]["runs"] == 2


def test_an_unknown_benchmark_is_named_with_the_known_ones() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "nope"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "unknown benchmark nope" in result.stderr and "storm" in result.stderr

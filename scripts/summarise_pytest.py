"""Add up the closing lines of several pytest runs into one line."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

COUNT = re.compile(r"(\d+) (passed|failed|errors?|skipped|xfailed|xpassed|deselected)")


def main(paths: list[str]) -> int:
    totals: Counter[str] = Counter()
    for path in paths:
        try:
            lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        except FileNotFoundError:
            continue
        closing = [line for line in lines if line.startswith("=") and " in " in line]
        if closing:
            for number, word in COUNT.findall(closing[-1]):
                totals["error" if word.startswith("error") else word] += int(number)
    line = f"{totals['passed']} passed, {totals['failed'] + totals['error']} failed"
    if totals["skipped"]:
        line += f", {totals['skipped']} skipped"
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

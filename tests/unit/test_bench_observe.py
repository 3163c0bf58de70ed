"""The benchmarks' parsing and bookkeeping (bench/observe.py, bench/harness.py).

Benchmarks are never tests: nothing here measures anything. These check that what
the benchmarks read (busctl's JSON, -X importtime, /proc) is read right."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

from bench.harness import Options, medians, parse_report, percentile, report
from bench.observe import (
    ImportLine,
    import_costs,
    max_in_window,
    new_notifications,
    parse_bus_messages,
    parse_importtime,
    parse_status_kib,
)

IFACE = "org.freedesktop.Notifications"


def notify(cookie: int, at_us: int, summary: str, replaces: int = 0, sender: str = ":1.7") -> str:
    return json.dumps(
        {
            "type": "method_call", "cookie": cookie, "timestamp-realtime": at_us,
            "sender": sender, "destination": ":1.1", "path": "/org/freedesktop/Notifications",
            "interface": IFACE, "member": "Notify",
            "payload": {
                "type": "susssasa{sv}i",
                "data": ["On-call Notifier", replaces, "", summary, "a\nbody", [], {}, -1],
            },
        }
    )  # fmt: skip


def answer(cookie: int, notification_id: int, destination: str = ":1.7") -> str:
    return json.dumps(
        {
            "type": "method_return", "reply_cookie": cookie, "timestamp-realtime": 0,
            "sender": ":1.1", "destination": destination,
            "payload": {"type": "u", "data": [notification_id]},
        }
    )  # fmt: skip


def close(cookie: int, notification_id: int, sender: str = ":1.7") -> str:
    return json.dumps(
        {
            "type": "method_call", "cookie": cookie, "timestamp-realtime": 3_000_000,
            "sender": sender, "destination": ":1.1", "interface": IFACE,
            "member": "CloseNotification", "payload": {"type": "u", "data": [notification_id]},
        }
    )  # fmt: skip


def test_notify_calls_get_the_id_the_server_answered() -> None:
    lines = [
        "Monitoring bus message stream.",
        notify(5, 1_000_000, "Disk full"),
        notify(5, 1_100_000, "someone else's", sender=":1.9"),  # same cookie, other sender
        answer(5, 41, destination=":1.9"),
        answer(5, 40),
        close(6, 40),
    ]
    log = parse_bus_messages(lines)
    assert [(n.summary, n.id, n.at) for n in log.notifies] == [
        ("Disk full", 40, 1.0),
        ("someone else's", 41, 1.1),
    ]
    assert log.notifies[0].body == "a\nbody"
    assert log.closes == [(3.0, ":1.7", 40)]


def test_an_update_in_place_counts_once_a_withdraw_and_show_twice() -> None:
    lines = [
        notify(1, 1_000_000, "first"),
        answer(1, 10),
        notify(2, 2_000_000, "summary: 5 incidents"),
        answer(2, 11),
        notify(3, 3_000_000, "summary: 9 incidents", replaces=11),  # replaces_id: in place
        answer(3, 11),
        close(4, 10),
        notify(5, 4_000_000, "first, again"),  # closed, then shown anew: a new one
        answer(5, 12),
        notify(6, 5_000_000, "replaces an id never given", replaces=99),
        answer(6, 13),
    ]
    log = parse_bus_messages(lines)
    assert [n.summary for n in new_notifications(log.notifies)] == [
        "first",
        "summary: 5 incidents",
        "first, again",
        "replaces an id never given",
    ]


def test_from_app_keeps_the_apps_calls_and_its_closes() -> None:
    other = json.loads(notify(1, 1, "hi", sender=":1.3"))
    other["payload"]["data"][0] = "notify-send"
    lines = [json.dumps(other), notify(2, 2, "page"), close(3, 1, sender=":1.3"), close(4, 2)]
    app = parse_bus_messages(lines).from_app("On-call Notifier")
    assert [n.summary for n in app.notifies] == ["page"]
    assert [c[2] for c in app.closes] == [2]


def test_most_in_any_minute() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([0, 10, 59.9, 60, 61, 200]) == 4  # 10 .. 61
    assert max_in_window([5, 1, 3], window=2.5) == 2


IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:       300 |        300 |       httpx2._models
import time:       200 |        500 |     httpx2
import time:      1000 |       1600 |   pagerduty
import time:        50 |         50 |     pagerduty.util
import time:       400 |        450 |   pagerduty.rest
import time:      2000 |       2000 |   PySide6.QtWidgets
import time:        10 |       4560 | notifier.desktop.app.application
something else on stderr
"""


def test_importtime_lines_and_their_depth() -> None:
    lines = parse_importtime(IMPORTTIME)
    assert lines[1] == ImportLine("httpx2._models", 300, 300, 3)
    assert lines[-1] == ImportLine("notifier.desktop.app.application", 10, 4560, 0)
    assert len(lines) == 8


def test_import_costs_per_package() -> None:
    rows = {name: (own, incl) for name, own, incl in import_costs(parse_importtime(IMPORTTIME))}
    assert "notifier" not in rows
    # pagerduty: its own lines, and what it imported first (httpx2) in the inclusive
    assert rows["pagerduty"] == (1.45, 2.05)
    assert rows["httpx2"] == (0.5, 0.5)
    assert rows["PySide6"] == (2.0, 2.0)
    assert import_costs(parse_importtime(IMPORTTIME))[0][0] == "pagerduty"


def test_proc_status_fields() -> None:
    status = "Name:\tpython\nVmRSS:\t  107812 kB\nRssAnon:\t 50 kB\n"
    assert parse_status_kib(status, "VmRSS") == 107812
    assert parse_status_kib(status, "Pss") == 0


def test_report_prints_a_line_for_people_and_one_for_machines() -> None:
    out = io.StringIO()
    report("startup", {"app_s": 0.5, "ratio": 3.6, "rows": [{"a": 1}]}, stream=out)
    human, machine = out.getvalue().splitlines()
    assert human.startswith("startup") and "ratio=3.6" in human and "rows" not in human
    assert parse_report(out.getvalue()) == [
        {"bench": "startup", "app_s": 0.5, "ratio": 3.6, "rows": [{"a": 1}]}
    ]
    assert json.loads(machine)["bench"] == "startup"


def test_medians_of_repeated_runs() -> None:
    merged = medians(
        [
            {"s": 1.0, "n": 3, "rows": [1]},
            {"s": 3.0, "n": 1, "rows": [2]},
            {"s": 2.0, "n": 2, "rows": [3]},
        ]
    )
    assert merged == {"s": 2.0, "n": 2, "rows": [3], "runs": 3}


def test_nearest_rank_percentile() -> None:
    values = [float(n) for n in range(1, 21)]
    assert percentile(values, 0.95) == 19.0
    assert percentile(values, 0.5) == 10.0
    assert percentile([7.0], 0.95) == 7.0


def test_the_bare_tray_runs_on_the_installed_commands_own_interpreter(tmp_path: Path) -> None:
    # same PySide6 files for both: the memory ratio compares the app, not two installs
    python = tmp_path / "venv" / "bin" / "python3.11"
    python.parent.mkdir(parents=True)
    python.write_text("")
    script = tmp_path / "venv" / "bin" / "oncall-notifier"
    script.write_text(f"#!{python}\nimport sys\nfrom notifier.cli import main\n")
    script.chmod(0o755)
    assert Options(command=(str(script),)).bare_python() == str(python)
    frozen = tmp_path / "bundle" / "oncall-notifier"
    frozen.parent.mkdir()
    frozen.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(100))
    frozen.chmod(0o755)
    assert Options(command=(str(frozen),)).bare_python() == sys.executable
    assert Options().bare_python() == sys.executable  # the tree's own
    gone = tmp_path / "gone" / "python3"
    script.write_text(f"#!{gone}\n")  # a venv moved away: this one's, not a failure
    assert Options(command=(str(script),)).bare_python() == sys.executable

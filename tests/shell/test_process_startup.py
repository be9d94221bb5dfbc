"""How an aispm process paces its garbage collector: rarely while it imports, as usual once it has started."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = """
import gc, json, sys
usual = gc.get_threshold()
import aispm
importing = gc.get_threshold()
aispm.startup_done()
frozen = gc.get_freeze_count()
after = gc.get_threshold()
junk = [[i] for i in range(1000)]
aispm.startup_done()   # once per process: nothing more is frozen
print(json.dumps({"usual": usual, "importing": importing, "after": after, "frozen": frozen,
                  "frozen_again": gc.get_freeze_count()}))
"""


def _probe() -> dict[str, list[int] | int]:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def test_collections_are_rare_while_importing_and_usual_once_started() -> None:
    seen = _probe()
    assert seen["importing"] == [10_000, *seen["usual"][1:]]  # type: ignore[index]
    assert seen["after"] == seen["usual"]
    assert seen["frozen"] > 10_000   # what the imports built is out of the collector's walks
    assert seen["frozen_again"] == seen["frozen"]


def test_planning_a_scan_starts_the_process_once() -> None:
    code = ("import gc; from aispm import startup_done; from aispm.collectors.base import CollectOptions; "
            "from aispm.pipeline import plan_scan; plan_scan([], CollectOptions()); "
            "n = gc.get_freeze_count(); startup_done(); print(gc.get_threshold(), n > 0, gc.get_freeze_count() == n)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == f"{tuple(_probe()['usual'])} True True"  # type: ignore[arg-type]


def test_a_command_that_plans_nothing_ends_the_start_before_it_runs() -> None:
    code = ("import gc, aispm.cli; aispm.cli.main(['rules', 'list']); n = gc.get_freeze_count(); "
            "print(gc.get_threshold(), n > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == f"{tuple(_probe()['usual'])} True"  # type: ignore[arg-type]

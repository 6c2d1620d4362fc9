import sys
import time
from pathlib import Path

from devtools.fakes import FakeClock
from storywire.app.supervisor import RestartDelay, Supervisor
from storywire.backoff import Backoff


def test_backoff_doubles_to_a_cap_and_resets_after_a_healthy_run() -> None:
    b = RestartDelay(Backoff(1, 8, jitter=0), healthy_after=60)
    assert [b.next_delay(uptime=1) for _ in range(5)] == [1, 2, 4, 8, 8]
    assert b.next_delay(uptime=120) == 1


def test_a_crashed_stage_is_restarted_after_its_backoff_and_stop_is_graceful(tmp_path: Path) -> None:
    clock = FakeClock()
    crash = [sys.executable, "-c", "import sys; sys.exit(3)"]
    # a stage that runs until SIGTERM, then exits 0 (as real stages do after their batch)
    steady = [
        sys.executable,
        "-c",
        "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(0))\n"
        f"open({str(tmp_path / 'ready')!r}, 'w').close()\nwhile True: time.sleep(0.05)",
    ]
    sup = Supervisor({"crash": [], "steady": []}, {}, ops_base_port=None, clock=clock, argv_prefix=[])
    sup.children[0].argv, sup.children[1].argv = crash, steady
    sup.start()
    crasher, runner = sup.children
    assert crasher.proc is not None and crasher.proc.wait(timeout=30) == 3
    sup.tick()  # notices the exit, schedules a restart 1 s later
    assert crasher.restart_at == 1.0 and crasher.restarts == 0
    sup.tick()
    assert crasher.restarts == 0  # backoff not over yet
    clock.t = 1.0
    sup.tick()
    assert crasher.restarts == 1
    assert crasher.proc.wait(timeout=30) == 3
    sup.tick()
    assert crasher.restart_at == 3.0  # the second failure waits twice as long
    for _ in range(600):  # the steady stage has installed its SIGTERM handler
        if (tmp_path / "ready").exists():
            break
        time.sleep(0.05)
    assert (tmp_path / "ready").exists()
    sup.stop()
    assert runner.proc is not None and runner.proc.returncode == 0  # SIGTERM, not SIGKILL

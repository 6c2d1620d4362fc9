"""The Kafka readiness probe while the broker is still down.

`stack up` asks Kafka whether it is ready every half second while the broker starts.
kafka-python 3.0 leaves the socket of a refused connection open until garbage
collection, which under ``-W error`` surfaces as an unraisable ResourceWarning in
whatever test happens to be running; the probe must not open one.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

from devtools.stack.kafka import Kafka
from devtools.stack.process import port_free
from devtools.stack.settings import StackSettings


def _closed_port() -> int:
    for port in range(39990, 39900, -1):
        if port_free(port):
            return port
    raise AssertionError("no free port to probe")


def test_probing_a_broker_that_is_not_up_leaks_no_socket(tmp_path: Path) -> None:
    kafka = Kafka(StackSettings(kafka_port=_closed_port(), dir=tmp_path), progress=False)
    unraisable: list[Any] = []
    previous = sys.unraisablehook
    sys.unraisablehook = unraisable.append
    try:
        assert [kafka.ready() for _ in range(3)] == [False, False, False]
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert [str(u.exc_value) for u in unraisable] == []

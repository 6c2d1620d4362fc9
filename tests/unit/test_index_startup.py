"""`storywire index run` waits out an unavailable Elasticsearch at start-up instead of exiting."""

import threading

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig
from elasticsearch import ApiError
from elasticsearch import ConnectionError as ESConnectionError

from index.cli import until_available


def _api_error(status: int) -> ApiError:
    meta = ApiResponseMeta(
        status=status,
        http_version="1.1",
        headers=HttpHeaders(),
        duration=0.0,
        node=NodeConfig("http", "127.0.0.1", 9200),
    )
    return ApiError(f"status {status}", meta=meta, body={})


class _Stop(threading.Event):
    """Records the waits instead of sleeping."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0))
        return self.is_set()


def test_429_and_no_connection_are_waited_out_with_growing_backoff() -> None:
    failures = [_api_error(429), ESConnectionError("refused"), _api_error(503)]
    calls = []

    def step() -> None:
        calls.append(1)
        if failures:
            raise failures.pop(0)

    stop = _Stop()
    assert until_available(step, stop, initial_s=0.5, max_s=1.5) is True
    assert len(calls) == 4
    assert stop.waits == [0.5, 1.0, 1.5]


def test_a_permanent_error_is_raised() -> None:
    def step() -> None:
        raise _api_error(400)

    with pytest.raises(ApiError):
        until_available(step, _Stop(), initial_s=0.5, max_s=1.0)


def test_stop_while_waiting_returns_false() -> None:
    stop = _Stop()
    stop.set()

    def step() -> None:
        raise _api_error(429)

    assert until_available(step, stop, initial_s=0.5, max_s=1.0) is False

"""The command line's conventions, for every command at once: help on every option and
positional, ``--version``, exit codes (0 ok, 1 failure, 2 usage) and one-line errors."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator

import pytest

from storywire.app.cli import build_parser, main
from storywire.commands import CommandError, Unreachable, UsageError, mask_url


def _walk(parser: argparse.ArgumentParser, path: str) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _walk(sub, f"{path} {name}")
        elif not isinstance(action, argparse._HelpAction):
            yield path, action


def test_every_option_and_positional_has_help() -> None:
    missing = [
        f"{path}: {'/'.join(a.option_strings) or a.dest}"
        for path, a in _walk(build_parser(), "storywire")
        if not a.help or a.help == argparse.SUPPRESS
    ]
    assert missing == []


def test_the_walk_sees_the_whole_tree() -> None:
    # The test above is only as good as its walk: it must reach nested sub-commands.
    paths = {path for path, _ in _walk(build_parser(), "storywire")}
    assert {"storywire feeds import-opml", "storywire alerts check", "storywire stack logs"} <= paths
    assert {"storywire index migrate", "storywire config show", "storywire doctor"} <= paths


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.startswith("storywire ")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["topics", "nonsense"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_error_classes_carry_their_exit_codes() -> None:
    assert CommandError("x").exit_code == 1
    assert Unreachable("x").exit_code == 1
    assert UsageError("x").exit_code == 2


def test_a_usage_error_found_by_a_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    # --size within argparse's bounds but above the query model's: found after parsing.
    assert main(["search", "x", "--no-embed", "--size", "100000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("storywire: error: --size") and err.count("\n") == 1


def test_mask_url_hides_credentials() -> None:
    assert mask_url("https://elastic:s3cret@es.example:9200/x") == "https://***@es.example:9200/x"
    assert mask_url("http://token@h:1") == "http://***@h:1"
    assert mask_url("http://127.0.0.1:9200") == "http://127.0.0.1:9200"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "storywire.app.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | (env or {}),
        check=False,
    )


def test_kafka_down_is_one_line_and_exit_1() -> None:
    # Port 9 (discard) has no listener here: nothing answers.
    for verb in ("list", "ensure"):
        proc = _cli("topics", verb, env={"STORYWIRE_KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9"})
        assert proc.returncode == 1, proc.stderr
        assert (
            proc.stderr
            == "storywire: error: cannot reach Kafka at 127.0.0.1:9: no bootstrap server accepts connections\n"
        )


def test_elasticsearch_down_is_one_line_with_the_password_masked() -> None:
    proc = _cli("index", "migrate", env={"STORYWIRE_ES_URL": "http://elastic:s3cret@127.0.0.1:9"})
    assert proc.returncode == 1, proc.stderr
    assert "s3cret" not in proc.stderr + proc.stdout
    assert proc.stderr.splitlines()[-1].startswith(
        "storywire: error: cannot reach Elasticsearch at http://***@127.0.0.1:9"
    )
    assert "Traceback" not in proc.stderr


def test_the_front_door_names_the_server_a_client_error_came_from(monkeypatch: pytest.MonkeyPatch) -> None:
    from elastic_transport import ConnectionError as EsConnectionError
    from kafka.errors import KafkaTimeoutError

    from storywire.app.cli import unreachable

    monkeypatch.setenv("STORYWIRE_KAFKA_BOOTSTRAP_SERVERS", "broker.example:9092")
    monkeypatch.setenv("STORYWIRE_ES_URL", "https://elastic:pa55word@es.example:9200")
    line = unreachable(KafkaTimeoutError("Unable to bootstrap from ['broker.example:9092']"))
    assert line is not None and line.startswith("cannot reach Kafka at broker.example:9092: KafkaTimeoutError")
    assert unreachable(EsConnectionError("refused")) == (
        "cannot reach Elasticsearch at https://***@es.example:9200: ConnectionError: Connection error"
    )
    assert unreachable(ValueError("a bug")) is None  # anything else keeps its traceback


def test_search_with_elasticsearch_down_is_one_line() -> None:
    proc = _cli("search", "x", "--no-embed", env={"STORYWIRE_ES_URL": "http://elastic:s3cret@127.0.0.1:9"})
    assert proc.returncode == 1
    assert proc.stderr.splitlines() == [
        "storywire: error: search is unavailable: Connection error (Elasticsearch at http://***@127.0.0.1:9)"
    ]


LISTINGS = [
    ["feeds", "list"],
    ["topics", "list"],
    ["doctor"],
    ["alerts", "check", "rules.yaml"],
    ["stack", "status"],
    ["search"],
    ["articles"],
    ["story", "s1"],
    ["config", "show"],
]


@pytest.mark.parametrize("argv", LISTINGS, ids=lambda a: " ".join(a[:2]))
def test_every_listing_takes_json(argv: list[str]) -> None:
    assert build_parser().parse_args([*argv, "--json"]).json is True


def test_an_invalid_url_setting_is_named_without_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    from storywire.config import ConfigError, ElasticsearchSettings, load

    monkeypatch.setenv("STORYWIRE_ES_URL", "ftp://elastic:pa55word@es.example")
    with pytest.raises(ConfigError) as err:
        load(ElasticsearchSettings)
    assert str(err.value) == (
        "STORYWIRE_ES_URL='ftp://***@es.example': expected an http:// or https:// URL with a host"
    )

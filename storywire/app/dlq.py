"""`storywire dlq list|replay`: read the dead-letter topic and send dead letters back where they came from.

A dead letter (``storywire.delivery.Delivery.dead_letter``) is the original key and bytes with its
provenance in headers: ``storywire.topic``, ``.partition``, ``.offset``, ``.error``,
``.error_type``, ``.stage``, ``.time`` (and ``.truncated_from`` when the value was cut to
stay deliverable). A dead letter is named by its own place in the dead-letter topic,
``PARTITION:OFFSET`` (the ``id`` column).

    storywire dlq list [--json] [--limit N] [--stage S] [--topic T]
        the newest N dead letters, oldest first; --json prints one JSON array whose items have
        id, dlq_partition, dlq_offset, key, bytes, value, topic, partition, offset, stage,
        error_type, error, time, truncated_from
    storywire dlq replay (--offset P:O ... | --all) [--stage S] [--topic T] [--to-topic T] [--dry-run]
        re-produces each selected dead letter's original key and bytes to its original topic
        (from the header) or to --to-topic, acknowledged by the broker (acks=all), with a
        ``storywire.replayed_from`` header. A truncated dead letter is never replayed.

Replaying is safe twice over: the stages are idempotent (deterministic ids, external
versions), and a record that is still poison just comes back to the dead-letter topic.
Fix the cause first (a newer consumer, a mapping), then replay.

    DlqError   a selection that names nothing, a destination outside the pipeline, a truncated letter
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from storywire.commands import CommandError, int_at_least
from storywire.config import KafkaSettings

HEADER = "storywire."


class DlqError(CommandError):
    """The dead letters asked for cannot be listed or replayed as asked."""


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic with its provenance headers read out."""

    dlq_partition: int
    dlq_offset: int
    key: bytes | None
    value: bytes
    topic: str
    partition: int | None
    offset: int | None
    stage: str
    error_type: str
    error: str
    time: str
    truncated_from: int | None

    @property
    def id(self) -> str:
        return f"{self.dlq_partition}:{self.dlq_offset}"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["key"] = self.key.decode("utf-8", errors="replace") if self.key is not None else None
        out["value"] = self.value.decode("utf-8", errors="replace")
        return {"id": self.id, "bytes": len(self.value)} | out


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def from_record(record: Any) -> DeadLetter:
    """A dead letter from a consumed record of the dead-letter topic (headers missing read as empty)."""
    headers = {
        k[len(HEADER) :]: v.decode("utf-8", errors="replace") for k, v in (record.headers or []) if k.startswith(HEADER)
    }
    return DeadLetter(
        dlq_partition=record.partition,
        dlq_offset=record.offset,
        key=record.key,
        value=record.value if record.value is not None else b"",
        topic=headers.get("topic", ""),
        partition=_int(headers.get("partition")),
        offset=_int(headers.get("offset")),
        stage=headers.get("stage", ""),
        error_type=headers.get("error_type", ""),
        error=headers.get("error", ""),
        time=headers.get("time", ""),
        truncated_from=_int(headers.get("truncated_from")),
    )


def parse_id(text: str) -> tuple[int, int]:
    """``PARTITION:OFFSET`` as the list shows it (an argparse type)."""
    part, sep, off = text.partition(":")
    try:
        if not sep:
            raise ValueError
        pair = int(part), int(off)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not PARTITION:OFFSET (as `storywire dlq list` shows it): {text!r}") from exc
    if pair[0] < 0 or pair[1] < 0:
        raise argparse.ArgumentTypeError(f"partition and offset are never negative: {text!r}")
    return pair


def select(
    letters: Iterable[DeadLetter],
    ids: Sequence[tuple[int, int]] = (),
    stage: str | None = None,
    topic: str | None = None,
) -> list[DeadLetter]:
    """The letters named by ``ids`` (all when none), kept only if they match ``stage`` and ``topic``."""
    wanted = set(ids)
    return [
        d
        for d in letters
        if (not wanted or (d.dlq_partition, d.dlq_offset) in wanted)
        and (stage is None or d.stage == stage)
        and (topic is None or d.topic == topic)
    ]


def destination(letter: DeadLetter, allowed: set[str], to_topic: str | None) -> str:
    """Where a letter goes back to: ``to_topic``, else its original topic, which must be a pipeline topic."""
    if letter.truncated_from is not None:
        raise DlqError(
            f"dead letter {letter.id} was cut from {letter.truncated_from} bytes to stay deliverable; "
            "its original bytes are gone, so it cannot be replayed"
        )
    target = to_topic or letter.topic
    if not target:
        raise DlqError(f"dead letter {letter.id} has no storywire.topic header; name one with --to-topic")
    if to_topic is None and target not in allowed:
        raise DlqError(f"dead letter {letter.id} came from {target!r}, not a topic of this pipeline; use --to-topic")
    return target


def read_letters(
    kafka: KafkaSettings, dlq_topic: str, newest: int | None = None, timeout_s: float = 30.0
) -> list[DeadLetter]:
    """Dead letters of ``dlq_topic`` (at most the ``newest`` of each partition), oldest first, without a group."""
    from kafka import KafkaConsumer, TopicPartition

    from storywire.bus import client_config

    consumer = KafkaConsumer(**client_config(kafka), group_id=None, enable_auto_commit=False)
    try:
        partitions = sorted(consumer.partitions_for_topic(dlq_topic) or ())
        if not partitions:
            raise DlqError(f"no dead-letter topic {dlq_topic!r} (run `storywire topics ensure`)")
        parts = [TopicPartition(dlq_topic, p) for p in partitions]
        consumer.assign(parts)
        first, end = consumer.beginning_offsets(parts), consumer.end_offsets(parts)
        for tp in parts:
            start = first[tp] if newest is None else max(first[tp], end[tp] - newest)
            consumer.seek(tp, start)
        letters: list[DeadLetter] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in parts):
            if time.monotonic() > deadline:
                raise DlqError(f"reading {dlq_topic} took longer than {timeout_s:.0f}s; is the broker slow?")
            for tp, records in consumer.poll(timeout_ms=1000).items():
                letters += [from_record(r) for r in records if r.offset < end[tp]]
    finally:
        consumer.close()
    letters.sort(key=lambda d: (d.time, d.dlq_partition, d.dlq_offset))
    return letters


def replay(
    producer: Any, letters: Sequence[DeadLetter], allowed: set[str], dlq_topic: str, to_topic: str | None
) -> list[tuple[DeadLetter, str]]:
    """Send each letter's original key and bytes back; every send is acknowledged before the next one."""
    plan = [(d, destination(d, allowed, to_topic)) for d in letters]  # refuse before sending anything
    for letter, target in plan:
        headers = [(HEADER + "replayed_from", f"{dlq_topic}:{letter.id}".encode())]
        producer.send(target, key=letter.key, value=letter.value, headers=headers).get(timeout=60)
    producer.flush()
    return plan


def _table(letters: Sequence[DeadLetter]) -> str:
    rows = [f"{'id':<10} {'time':<26} {'stage':<8} {'from':<40} {'error'}"]
    for d in letters:
        origin = f"{d.topic}:{d.partition}:{d.offset}"
        rows.append(f"{d.id:<10} {d.time[:26]:<26} {d.stage:<8} {origin:<40} {d.error_type}: {d.error[:120]}")
    rows.append(f"{len(letters)} dead letters")
    return "\n".join(rows)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = sub.add_parser("dlq", help="list or replay the dead-letter topic")
    dsub = dlq.add_subparsers(dest="dlq_command", required=True)
    ls = dsub.add_parser("list", help="the newest dead letters with their origin and error, oldest first")
    ls.add_argument("--json", action="store_true", help="one JSON array (with each letter's value as text)")
    ls.add_argument("--limit", type=int_at_least(1), default=100, help="at most this many, the newest (default 100)")
    ls.add_argument("--stage", help="only letters dead-lettered by this stage (embed, cluster, index, alert)")
    ls.add_argument("--topic", help="only letters that came from this topic")
    ls.set_defaults(func=_list)
    rp = dsub.add_parser("replay", help="send dead letters back to their original topic (or --to-topic)")
    which = rp.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--offset",
        dest="ids",
        type=parse_id,
        action="append",
        metavar="PARTITION:OFFSET",
        help="the dead letter with this id (as `dlq list` shows it); repeat for several",
    )
    which.add_argument("--all", action="store_true", help="every dead letter (narrowed by --stage / --topic)")
    rp.add_argument("--stage", help="only letters dead-lettered by this stage")
    rp.add_argument("--topic", help="only letters that came from this topic")
    rp.add_argument("--to-topic", help="send here instead of the original topic")
    rp.add_argument("--dry-run", action="store_true", help="say what would be sent, send nothing")
    rp.set_defaults(func=_replay)


def _list(args: argparse.Namespace) -> int:
    from storywire.bus import Topics
    from storywire.config import load

    kafka = load(KafkaSettings)
    letters = read_letters(
        kafka, Topics(kafka.topic_prefix).dlq, newest=None if args.stage or args.topic else args.limit
    )
    letters = select(letters, stage=args.stage, topic=args.topic)[-args.limit :]
    if args.json:
        print(json.dumps([d.as_json() for d in letters], indent=2, ensure_ascii=False))
    else:
        print(_table(letters))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from storywire.bus import Topics, make_producer
    from storywire.config import load

    kafka = load(KafkaSettings)
    topics = Topics(kafka.topic_prefix)
    letters = select(read_letters(kafka, topics.dlq), args.ids or (), args.stage, args.topic)
    if args.ids:
        missing = set(args.ids) - {(d.dlq_partition, d.dlq_offset) for d in letters}
        if missing:
            names = ", ".join(f"{p}:{o}" for p, o in sorted(missing))
            raise DlqError(f"no dead letter {names} in {topics.dlq} (matching the filters); see `storywire dlq list`")
    if not letters:
        raise DlqError("no dead letters match; see `storywire dlq list`")
    allowed = set(topics.all()) - {topics.dlq}
    if args.dry_run:
        for d in letters:
            print(f"would replay {d.id} -> {destination(d, allowed, args.to_topic)} ({len(d.value)} bytes)")
        return 0
    producer = make_producer(kafka)
    try:
        sent = replay(producer, letters, allowed, topics.dlq, args.to_topic)
    finally:
        producer.close()
    for d, target in sent:
        print(f"replayed {d.id} -> {target} ({len(d.value)} bytes)")
    return 0

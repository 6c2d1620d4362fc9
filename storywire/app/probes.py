"""What ``storywire doctor`` looks at, one function per check, each returning ``Finding``s.

    sections       every settings section loads (types, bounds, rules across settings)
    kafka          the broker answers and the pipeline's topics exist
    elasticsearch  the cluster is green or yellow, the aliases exist, their vector sizes agree
    model          the embedding model loads and makes vectors of the indexed size
    stages         each stage's /readyz (else /health) on its ops port answers 200
    lag            each consumer group's records behind the end of its topics
    dead letters   records in the dead-letter topic
    feeds          disabled and failing feeds in the ingest state (read-only)
    disk           free space where the ingest and alert state live

A check never raises: a failure is a ``Finding`` with status ``fail`` and a ``fix``. A
check that cannot run here (no state on this host, a stage without an ops port) is
``skip``. Every text a check returns goes through ``Masker`` before it is printed, so no
credential of the settings (a password inside ``STORYWIRE_ES_URL``) is ever shown.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings

from storywire.commands import mask_url

Status = Literal["ok", "warn", "fail", "skip"]

LOW_DISK_FAIL_BYTES = 100 * 2**20
LOW_DISK_WARN_BYTES = 2**30


@dataclass(frozen=True)
class Finding:
    name: str
    status: Status
    detail: str
    fix: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class Masker:
    """Removes every credential the settings hold from a text (userinfo of URLs, secrets)."""

    def __init__(self, sections: Iterable[BaseSettings]) -> None:
        self.secrets: set[str] = set()
        for section in sections:
            for value in section.model_dump().values():
                if isinstance(value, SecretStr) and value.get_secret_value():
                    self.secrets.add(value.get_secret_value())
                elif isinstance(value, str) and "://" in value and mask_url(value) != value:
                    userinfo = value.split("://", 1)[1].rsplit("@", 1)[0]
                    self.secrets |= {userinfo, *userinfo.split(":", 1)}
        self.secrets = {s for s in self.secrets if len(s) >= 3}  # a one-letter "secret" would blank the text

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text


def disk_finding(name: str, path: Path, free: int, total: int) -> Finding:
    """The verdict on free space: fail under 100 MiB, warn under 1 GiB or 5 %."""
    data = {"path": str(path), "free_bytes": free, "total_bytes": total}
    detail = f"{path}: {free / 2**30:.1f} GiB free of {total / 2**30:.1f} GiB"
    if free < LOW_DISK_FAIL_BYTES:
        return Finding(name, "fail", detail, "free space on that disk: SQLite state cannot be written", data)
    if free < LOW_DISK_WARN_BYTES or (total and free / total < 0.05):
        return Finding(name, "warn", detail, "free space on that disk soon", data)
    return Finding(name, "ok", detail, data=data)


def check_disk(name: str, path: Path) -> Finding:
    """Free space on the disk holding ``path`` (its nearest existing parent when not created yet)."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return disk_finding(name, path, usage.free, usage.total)


def check_feeds(state_dir: Path) -> Finding:
    """Disabled and backing-off feeds, from the ingest state read-only."""
    from ingest.state import read_states

    states = read_states(state_dir)
    if states is None:
        return Finding("feeds", "skip", f"no ingest state at {state_dir} on this host")
    disabled = sorted(url for url, st in states.items() if st.disabled)
    failing = sorted(url for url, st in states.items() if not st.disabled and st.error_count)
    data = {"feeds": len(states), "disabled": disabled, "failing": failing}
    detail = f"{len(states)} feeds with state, {len(disabled)} disabled, {len(failing)} backing off after errors"
    if disabled:
        shown = ", ".join(disabled[:3]) + (" ..." if len(disabled) > 3 else "")
        fix = f"`storywire feeds list` says why; re-enable with `storywire feeds enable URL` ({shown})"
        return Finding("feeds", "warn", detail, fix, data)
    return Finding("feeds", "ok", detail, data=data)


def lag_finding(group: str, lag: dict[str, int] | None, max_lag: int) -> Finding:
    """The verdict on one group: warn when it has no commits yet or is more than ``max_lag`` behind."""
    name = f"lag {group}"
    if lag is None:
        return Finding(name, "warn", "no committed offsets yet (the stage has not run)", "start the stage")
    total = sum(lag.values())
    detail = f"{total} records behind" + (f" ({', '.join(f'{t} {n}' for t, n in lag.items())})" if total else "")
    data = {"group": group, "lag": total, "by_topic": lag}
    if total > max_lag:
        return Finding(name, "warn", detail, "the stage is falling behind: scale it or check its log", data)
    return Finding(name, "ok", detail, data=data)


def _end_offsets(consumer: Any, topics: Iterable[str]) -> dict[Any, int]:
    from kafka import TopicPartition

    parts = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
    return dict(consumer.end_offsets(parts)) if parts else {}


def check_kafka_pipeline(kafka: Any, groups: dict[str, list[str]], dlq: str, max_lag: int) -> list[Finding]:
    """Consumer lag per group (committed offsets against the topics' ends) and the dead letters held."""
    from kafka import KafkaConsumer
    from kafka.admin import KafkaAdminClient

    from storywire.bus import client_config

    out: list[Finding] = []
    admin = KafkaAdminClient(**client_config(kafka), request_timeout_ms=5000)
    consumer = KafkaConsumer(**client_config(kafka), request_timeout_ms=5000, enable_auto_commit=False)
    try:
        topics = set(consumer.topics())
        for group, subscribed in groups.items():
            present = [t for t in subscribed if t in topics]
            ends = _end_offsets(consumer, present)
            committed = admin.list_group_offsets({group: None}).get(group, {})
            if not committed:
                out.append(lag_finding(group, None, max_lag))
                continue
            lag: dict[str, int] = dict.fromkeys(present, 0)
            for tp, end in ends.items():
                meta = committed.get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                lag[tp.topic] += max(0, end - done)
            out.append(lag_finding(group, lag, max_lag))
        if dlq in topics:
            ends = _end_offsets(consumer, [dlq])
            starts = dict(consumer.beginning_offsets(list(ends)))
            held = sum(end - starts.get(tp, 0) for tp, end in ends.items())
            data = {"topic": dlq, "records": held}
            if held:
                fix = f"read {dlq}: each record's headers name its topic, offset and error"
                out.append(Finding("dead letters", "warn", f"{held} records in {dlq}", fix, data))
            else:
                out.append(Finding("dead letters", "ok", f"none in {dlq}", data=data))
    finally:
        consumer.close()
        admin.close()
    return out


def check_stage(name: str, base_url: str, command: str, timeout_s: float = 3.0) -> Finding:
    """A stage's readiness: ``/readyz`` when it serves one, else ``/health``; 200 is ready."""
    import httpx

    base = base_url.rstrip("/")
    shown = mask_url(base)
    try:
        with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
            resp = client.get(base + "/readyz")
            if resp.status_code == 404:
                resp = client.get(base + "/health")
    except httpx.HTTPError as exc:
        return Finding(
            f"stage {name}",
            "fail",
            f"not answering at {shown} ({type(exc).__name__})",
            f"start it (`storywire {command}` or `storywire run`), or point doctor at it: --stage {name}=URL",
            {"url": shown},
        )
    data: dict[str, Any] = {"url": shown, "status": resp.status_code}
    try:
        body = resp.json()
    except ValueError:
        body = {}
    reasons = body.get("reasons") if isinstance(body, dict) else None
    if resp.status_code == 200:
        return Finding(f"stage {name}", "ok", f"ready at {shown}", data=data)
    data["reasons"] = reasons or {}
    why = "; ".join(f"{k}: {v}" for k, v in (reasons or {}).items()) or f"HTTP {resp.status_code}"
    return Finding(f"stage {name}", "fail", f"not ready at {shown}: {why}", "see the stage's log", data)

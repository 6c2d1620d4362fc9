"""Fetch the servers' artifacts from Maven Central with Maven, into the user's cache.

Kafka: Apache Kafka's jars (``org.apache.kafka:kafka_<scala>``) and their runtime
dependencies, assembled by ``mvn dependency:copy-dependencies`` from a generated pom.
Kafka's command-line tools (``org.apache.kafka:kafka-tools``) go beside them in ``tools/``,
with ``bin/kafka-consumer-groups.sh`` to run the consumer-group tool as Kafka's own
distribution does (the recovery recipe in the README resets offsets with it).
Elasticsearch: the ``integ-test-zip`` distribution
(``org.elasticsearch.distribution.integ-test-zip:elasticsearch:<v>:zip``).

Both go through Maven so a user's mirror or proxy settings (``~/.m2/settings.xml``)
apply. Each artifact is unpacked into a versioned directory, written to a temporary
name and renamed, so an interrupted download never leaves a half-populated cache.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from devtools.stack.errors import StackError

_KAFKA_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.storywire</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <!-- Kafka 3.x logs through slf4j 1.7; reload4j is the binding its own tarball ships. -->
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>1.7.36</version>
    </dependency>
  </dependencies>
</project>
"""


# The same pom with Kafka's tools (ConsumerGroupCommand and friends) in place of the broker.
_TOOLS_POM = _KAFKA_POM.replace(">kafka-runtime<", ">kafka-tools-runtime<").replace(">kafka_{scala}<", ">kafka-tools<")

# What Kafka's bin/kafka-consumer-groups.sh runs, with its tools-log4j.properties (warnings to stderr).
_CONSUMER_GROUPS_SH = """#!/bin/sh
# Apache Kafka {version}'s consumer-group tool, as bin/kafka-consumer-groups.sh of Kafka's distribution
# runs it; written by `storywire stack up` (devtools/stack/artifacts.py).
exec "{java}" -Xmx256m -Dlog4j.configuration="file:{home}/tools-log4j.properties" \\
  -cp "{home}/tools/*" org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "$@"
"""
_TOOLS_LOG4J = """log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.appender.stderr.Target=System.err
"""


def _mvn() -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven (mvn) not found on PATH: install it, e.g. `apt-get install maven`")
    return mvn


def _run_mvn(args: list[str], cwd: Path, what: str) -> None:
    proc = subprocess.run([_mvn(), "-B", "-q", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise StackError(f"download of {what} from Maven Central failed: {' | '.join(tail)}")


def kafka_libs(cache: Path, version: str, scala: str, progress: bool = True) -> Path:
    """Return the directory of Kafka's jars, downloading them on first use."""
    target = cache / "artifacts" / f"kafka_{scala}-{version}"
    if not (target / "lib").is_dir():
        if progress:
            print(f"stack: downloading Apache Kafka {version} jars from Maven Central ...", flush=True)
        with _staging(target) as work:
            (work / "pom.xml").write_text(_KAFKA_POM.format(scala=scala, version=version))
            _run_mvn(
                ["dependency:copy-dependencies", "-DoutputDirectory=lib", "-DincludeScope=runtime"],
                work,
                f"Kafka {version}",
            )
            _done(progress, f"Kafka {version}", work / "lib")
    return target / "lib"


def kafka_tools(cache: Path, version: str, scala: str, java: Path, progress: bool = True) -> Path:
    """Return ``bin/`` with ``kafka-consumer-groups.sh``, downloading Kafka's tools jars on first use."""
    home = cache / "artifacts" / f"kafka_{scala}-{version}"
    tools = home / "tools"
    if not tools.is_dir():
        if progress:
            print(f"stack: downloading Apache Kafka {version} tools from Maven Central ...", flush=True)
        with _staging(tools) as work:
            (work / "pom.xml").write_text(_TOOLS_POM.format(scala=scala, version=version))
            _run_mvn(
                ["dependency:copy-dependencies", "-DoutputDirectory=.", "-DincludeScope=runtime"],
                work,
                f"Kafka {version} tools",
            )
            (work / "pom.xml").unlink()
            _done(progress, f"Kafka {version} tools", work)
    (home / "tools-log4j.properties").write_text(_TOOLS_LOG4J)
    bin_dir = home / "bin"
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "kafka-consumer-groups.sh"
    script.write_text(_CONSUMER_GROUPS_SH.format(version=version, java=java, home=home))
    script.chmod(0o755)
    return bin_dir


def elasticsearch_home(cache: Path, version: str, progress: bool = True) -> Path:
    """Return an unpacked integ-test-zip Elasticsearch (a template to copy), downloading it once."""
    target = cache / "artifacts" / f"elasticsearch-{version}"
    if not (target / "bin" / "elasticsearch").is_file():
        if progress:
            print(f"stack: downloading Elasticsearch {version} (integ-test-zip) from Maven Central ...", flush=True)
        with _staging(target) as work:
            coords = f"org.elasticsearch.distribution.integ-test-zip:elasticsearch:{version}:zip"
            _run_mvn(
                ["dependency:copy", f"-Dartifact={coords}", "-DoutputDirectory=."], work, f"Elasticsearch {version}"
            )
            archive = work / f"elasticsearch-{version}.zip"
            _unzip(archive, work)
            archive.unlink()
            inner = work / f"elasticsearch-{version}"
            for child in inner.iterdir():
                child.rename(work / child.name)
            inner.rmdir()
            _done(progress, f"Elasticsearch {version}", work)
    return target


def _done(progress: bool, what: str, path: Path) -> None:
    if progress:
        files = [p for p in path.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files) / 1e6
        print(f"stack: {what} ready ({len(files)} files, {size:.0f} MB)", flush=True)


@contextlib.contextmanager
def _staging(target: Path) -> Iterator[Path]:
    """A scratch directory that becomes ``target`` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    try:
        yield work
        work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _unzip(archive: Path, dest: Path) -> None:
    # zipfile drops the executable bits; restore them from the stored Unix modes.
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, dest))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)

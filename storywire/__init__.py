"""Storywire's shared kernel, imported by every stage and by the read side.

messages.py   the typed, versioned messages of every topic
config.py     settings sections and the one loader (environment + STORYWIRE_CONFIG file)
bus.py        Kafka: topic names, clients, serde, dead letters, polling
runtime.py    stop signals, /livez, /readyz (/health) and /metrics, build info, last success, commit after a batch
lag.py        consumer lag measured from the broker on a timer (it keeps moving while a stage does not poll)
logs.py       logging with named fields (plain or JSON lines)
memory.py     giving freed memory back in long-running services
embedder.py   sentence embeddings behind a small protocol (embed workers and query embeddings)
commands.py   what every stage's command module shares (CommandError, argument types)
app/          the application layer: the `storywire` command line, ops commands, the supervisor

Nothing in the kernel imports a stage (ingest, enrich, index, search, alert) or the
development tooling (devtools); only ``storywire.app`` does, to assemble the command line.
"""

__version__ = "0.1.0"

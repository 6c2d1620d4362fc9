"""The application layer: what assembles the stages into one program.

cli.py         the `storywire` command: each stage's and the tooling's sub-commands
ops.py         `storywire run`, `topics`, `config show`
doctor.py      `storywire doctor`: runs the checks, prints them (or --json), masks credentials
probes.py      the checks doctor runs: sections, servers, stages' readiness, lag, dead letters, feeds, disk
supervisor.py  `storywire run`: every stage as a supervised child process
sections.py    every settings section by name (config show, doctor, the compose check)
dlq.py         `storywire dlq list|replay`: read the dead-letter topic, send letters back to their topic
state.py       `storywire state backup`: consistent copies of the live SQLite state (SQLite's backup API)

This is the only part of ``storywire`` that imports the stages and ``devtools``.
"""

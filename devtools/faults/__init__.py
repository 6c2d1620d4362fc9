"""One whole pipeline on a stack of its own, and the misbehaving servers and checks the
fault suite (tests/faults) and the soak benchmark (bench/soak.py) run it with.

harness.py   FaultRun: a private Kafka + Elasticsearch on free ports, every stage supervised
corpus.py    a seeded synthetic news stream
servers.py   feed server for the stream, a 429-answering proxy, a webhook receiver
checks.py    what Elasticsearch and the topics hold at the end
diskfull.py  filling Elasticsearch's data disk (a tmpfs of its own when run as root)
"""

"""Development tooling: what runs Storywire on a machine without Docker, for tests,
benchmarks and the demo. Not imported by any stage.

stack/         `storywire stack`: real Kafka and Elasticsearch as local processes (from Maven Central)
demo/          `storywire demo`: invented outlets and articles served as feeds, the whole pipeline
httpserver.py  a small local HTTP server for feeds that misbehave on purpose (tests, bench)
receivers.py   a local webhook endpoint and SMTP server that record what they got (tests, bench)
samples.py     builders of valid messages (tests, bench)
"""

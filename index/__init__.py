"""index: enriched articles and stories -> Elasticsearch (the write side).

settings.py   IndexSettings (STORYWIRE_INDEX_*; also the API's address and token, read by ``search``)
errors.py     the stage's exception hierarchy
client.py     the Elasticsearch client, index and alias names, ES health
mappings.py   explicit mappings, versioned indices behind aliases, migrate
documents.py  pure: messages -> bulk actions, bulk item outcomes, backoff
writer.py     the service: Kafka -> bulk -> commit, pause and retry, dead letters
health.py     Kafka and Elasticsearch reachability
cli.py        storywire index run|migrate

The read side (search, the HTTP API, the analysts' pages) is the ``search`` package.
"""

"""index: enriched articles and stories -> Elasticsearch; search.

settings.py   IndexSettings (STORYWIRE_INDEX_*)
errors.py     the stage's exception hierarchy
client.py     the Elasticsearch client, index and alias names, ES health
mappings.py   explicit mappings, versioned indices behind aliases, migrate
documents.py  pure: messages -> bulk actions, bulk item outcomes, backoff
writer.py     the service: Kafka -> bulk -> commit, pause and retry, dead letters
search.py     pure: typed queries and results, query bodies, rank fusion
searcher.py   SearchService: runs the searches (shared by CLI, API and web page)
api.py        the read-only FastAPI app (create_app)
health.py     Kafka and Elasticsearch reachability
render.py     terminal tables
cli.py        storywire index run|migrate, search, story, articles, api
"""

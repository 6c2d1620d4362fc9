"""search: the read side. Stories and articles out of Elasticsearch, for the CLI, the
HTTP API and the analysts' pages (``index`` writes them).

query.py      pure: typed queries and results, query bodies, rank fusion, hit mapping
views.py      pure: the pages' views beyond search (related stories, timelines, Now): bodies, mapping
rank.py       pure: relevance with size, sources and freshness; near-duplicates folded into one hit
service.py    SearchService: runs the searches and the views (shared by CLI, API and pages); the one
              place Elasticsearch's errors become the read side's
evaluate.py   storywire eval --search: MRR and recall@3 on a labelled set (temporary indices)
errors.py     the read side's exception hierarchy
api.py        the read-only FastAPI app (create_app)
auth.py       the one bearer-token rule of /api/* and /api/web/*
http.py       the pages' security headers (CSP), the error bodies, the documented error answers
docs.py       Swagger UI at /docs from this origin (no CDN), under the CSP
web/          the analysts' pages (search, story, "Now"), served by the API process through the
              service's public calls
render.py     terminal tables
cli.py        storywire search, story, articles, api
"""

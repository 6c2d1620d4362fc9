"""search: the read side. Stories and articles out of Elasticsearch, for the CLI, the
HTTP API and the analysts' pages (``index`` writes them).

query.py      pure: typed queries and results, query bodies, rank fusion, hit mapping
service.py    SearchService: runs the searches (shared by CLI, API and pages)
errors.py     the read side's exception hierarchy
api.py        the read-only FastAPI app (create_app)
auth.py       the one bearer-token rule of /api/* and /api/web/*
http.py       the pages' security headers (CSP), the error bodies, the documented error answers
docs.py       Swagger UI at /docs from this origin (no CDN), under the CSP
web/          the analysts' pages (search, story, "Now"), served by the API process
render.py     terminal tables
cli.py        storywire search, story, articles, api
"""

"""ingest: feeds -> storywire.articles.raw."""

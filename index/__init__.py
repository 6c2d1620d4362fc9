"""index: enriched articles and stories -> Elasticsearch; search."""

"""enrich: raw articles -> embeddings -> story assignment."""

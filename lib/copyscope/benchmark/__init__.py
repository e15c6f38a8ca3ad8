"""Paper A's copy benchmark: synthetic copies with known sources, retrieval metrics, and extractor rankings."""

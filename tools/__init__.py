"""Developer tools: pairing notebooks, student versions, profile runs (python -m tools.X)."""

"""The REST API under /api/v1/ (DESIGN.md §5)."""

"""Training fixtures live in tests/conftest.py (shared with evaluation tests)."""

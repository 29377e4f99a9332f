"""Taskgate's Django project: settings, URLs and the server entry points."""

# The version in pyproject.toml (tests/test_settings.py checks they agree); /mcp names it in serverInfo.
__version__ = "0.1.0"

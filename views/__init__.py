"""Thin HTTP layer: ``api`` (JSON under /api; each operation declared once, ``operations``), ``pages``,
``errors`` (one error mapping), ``schemas`` (request models), ``auth``."""

"""Thin HTTP layer: ``api`` (JSON under /api), ``errors`` (one error mapping), ``serialize``, ``schemas``."""

"""Runnable example systems for jido (``jido demo`` runs :mod:`jido_examples.contentops`)."""

__all__: list[str] = []

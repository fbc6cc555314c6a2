"""``python -m jido_interpreters``: the ``jido`` command, for where its script is not on
the path."""

from .cli import main

main()

"""jido_interpreters: the effectful runners of jido agents."""

__all__: list[str] = []

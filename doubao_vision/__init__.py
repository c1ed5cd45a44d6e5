"""doubao_vision: an async-first SDK for Doubao vision models."""
from ._version import __version__

__all__ = ["__version__"]

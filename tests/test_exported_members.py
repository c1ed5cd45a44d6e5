"""The public surface: everything in __all__ is importable, and nothing private leaks."""

from __future__ import annotations

import doubao_vision


def test_all_names_exist_and_are_sorted_sensibly() -> None:
    """Every name in __all__ resolves, and __all__ has no duplicates."""
    assert len(set(doubao_vision.__all__)) == len(doubao_vision.__all__)
    for name in doubao_vision.__all__:
        assert hasattr(doubao_vision, name), name


def test_public_classes_live_in_private_modules_but_export_here() -> None:
    """Each exported class or function is re-exported from a private doubao_vision._ module."""
    for name in doubao_vision.__all__:
        value = getattr(doubao_vision, name)
        module = getattr(value, "__module__", "")
        if module.startswith("doubao_vision"):
            assert module == "doubao_vision" or module.split(".")[1].startswith("_"), (name, module)


def test_no_private_names_exported() -> None:
    """__all__ holds no _private names except __version__."""
    assert [n for n in doubao_vision.__all__ if n.startswith("_")] == ["__version__"]

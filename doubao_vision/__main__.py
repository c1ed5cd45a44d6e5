"""``python -m doubao_vision``: the same as the ``doubao-vision`` console script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())

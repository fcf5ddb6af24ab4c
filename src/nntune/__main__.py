"""``python -m nntune``: the same as the ``nntune`` command."""

from nntune.cli import main

if __name__ == "__main__":
    main()

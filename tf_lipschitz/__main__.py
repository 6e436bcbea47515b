"""`python -m tf_lipschitz` is the `tf-lipschitz` command."""

from tf_lipschitz.commands.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

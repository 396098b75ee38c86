"""``python -m tests.sandbox.app``: run one pod's sample application."""
import sys

from tests.sandbox.app.server import main

if __name__ == "__main__":
    sys.exit(main())

"""Double-click / ``python launch.py`` entry point of the app (see ``ui/launch.py`` for the options)."""

import sys

from ui.launch import main

if __name__ == "__main__":
    sys.exit(main())

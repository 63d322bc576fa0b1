import sys

from cairn.cli.server import main

sys.exit(main())

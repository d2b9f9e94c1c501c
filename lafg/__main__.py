import sys

from lafg.cli import main

sys.exit(main())

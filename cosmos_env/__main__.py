import sys

from cosmos_env.cli import main

sys.exit(main())

import sys

from mobileiqa.cli import main

sys.exit(main())

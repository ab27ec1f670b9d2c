import sys

from mtls_conformance.cli import main

sys.exit(main())

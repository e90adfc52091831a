"""``python -m preflight --stack dev``."""

from preflight.doctor import main

raise SystemExit(main())

"""``python -m preflight --stack dev``. Its checks call AWS with boto3 and read the stacks' Pulumi
YAML: the 'infra' extra (what `make doctor` installs). Without it, one line says so."""

import sys

from devstack.options import MissingExtra, extra_needed

try:
    with extra_needed("the pre-deploy doctor", "infra", 'pip install "imagegen[infra]"'):
        from preflight.doctor import main
except MissingExtra as exc:
    print(f"python -m preflight: {exc}", file=sys.stderr)
    raise SystemExit(1) from None

raise SystemExit(main())

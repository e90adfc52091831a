"""Entry point the Pulumi CLI runs (``python -m pulumi.policy`` with this folder as the program):
serve every policy, mandatory, so a violation stops ``pulumi preview`` and ``pulumi up``."""

import sys
from pathlib import Path

from pulumi_policy import EnforcementLevel, PolicyPack

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `policy` as a package

from policy.rules import POLICIES

PolicyPack("imagegen", POLICIES, EnforcementLevel.MANDATORY)

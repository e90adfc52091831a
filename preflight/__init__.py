"""Pre-deploy checks (``make doctor``): what a first ``pulumi up`` and first request will need.

Standard library, boto3 and the ``service`` package only: it runs before anything is deployed,
with the deployer's credentials, and must not need the Pulumi SDK or the infra program.
"""

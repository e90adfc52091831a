"""imagegen's guardrails as a Pulumi CrossGuard policy pack (``--policy-pack policy``).

``rules`` holds the policies as plain validate functions (so tests call them directly);
``documents`` reads the IAM and OpenAPI documents they judge.
"""

"""The Lambda deployment archive: the ``service`` package and nothing else.

Built from an explicit file list (no tests, caches, local stack or infrastructure), so the zip
stays a few dozen KB and the runtime's own boto3 is used.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from infra.settings import ROOT

SERVICE_DIR = ROOT / "service"
INCLUDED_SUFFIXES = {".py", ".json", ".html"}  # .html: the playground page (GET /)
HANDLER = "service.handler.lambda_handler"
# The API-key authorizer ships in the same archive: one build, one set of files to review.
AUTHORIZER_HANDLER = "service.authorizer.handler"
# So does the job worker, behind the jobs queue's and the dead-letter queue's mappings.
WORKER_HANDLER = "service.worker.lambda_handler"


def service_files() -> list[Path]:
    """Source files of the service package, relative to the repository root."""
    return sorted(
        path.relative_to(ROOT)
        for path in SERVICE_DIR.rglob("*")
        if path.is_file() and path.suffix in INCLUDED_SUFFIXES and "__pycache__" not in path.parts
    )


def service_archive() -> pulumi.AssetArchive:
    return pulumi.AssetArchive(
        {path.as_posix(): pulumi.FileAsset(str(ROOT / path)) for path in service_files()}
    )

"""``make doctor``: run the pre-deploy checks for one stack and print what to fix.

The checks run with the deployer's credentials, cheapest first; the paid invocations come last,
after their estimated cost is printed. Exit status 0 when nothing failed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections import Counter
from collections.abc import Iterable
from datetime import date
from typing import TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError

from preflight import checks
from preflight.checks import Result, Status
from preflight.stack import StackError, StackSettings, load
from service.catalogue import Catalogue, ModelSpec, OperationSpec, default_catalogue
from service.config import Settings

SKIPPABLE = ("offered", "access", "profile", "marketplace", "concurrency", "logging")
# One attempt per paid call (a retry would pay twice); image models can take tens of seconds.
_INVOKE_CONFIG = Config(
    connect_timeout=5, read_timeout=90, retries={"mode": "standard", "total_max_attempts": 1}
)


class Report:
    """Prints each result as it arrives (invocations are slow) and counts them."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.counts: Counter[Status] = Counter()

    def add(self, result: Result) -> None:
        self.counts[result.status] += 1
        subject = f"{result.subject}: " if result.subject else ""
        line = f"{result.status.upper():<5} {result.check:<12} {subject}{result.message}"
        print(line, file=self.out, flush=True)

    def note(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def summary(self, rerun: str) -> None:
        counts = ", ".join(f"{self.counts[s]} {s}" for s in Status)
        if self.counts[Status.FAIL]:
            verdict = f"fix the FAIL lines, then re-run `{rerun}`"
        elif self.counts[Status.WARN]:
            verdict = "no failures; the WARN lines say what could not be confirmed"
        else:
            verdict = "ready to deploy"
        self.note(f"{counts}: {verdict}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m preflight",
        description="Check an AWS account and a stack's settings before `pulumi up`.",
    )
    parser.add_argument("--stack", default="dev", help="stack name (Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--no-invoke",
        action="store_true",
        help="skip the paid InvokeModel calls (one image per allowed model)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        choices=SKIPPABLE,
        default=[],
        help="skip a check your credentials cannot run (repeatable)",
    )
    parser.add_argument(
        "--function-name",
        help="the stack's deployed Lambda, if any (default imagegen-<stack>): its current"
        " reservation is not counted against the account",
    )
    return parser


def _models(names: Iterable[str], catalogue: Catalogue) -> list[ModelSpec]:
    """The distinct catalogue models named (an alias and an id may name the same one)."""
    found = (catalogue.find(name) for name in names)
    return list({model.id: model for model in found if model is not None}.values())


def _invocation_names(stack: StackSettings, catalogue: Catalogue) -> list[str]:
    """One configured name per invocation target, so no model is paid for twice; call only
    once the settings are valid (every name is in the catalogue)."""
    first: dict[str, str] = {}
    for name in stack.allowed_models:
        model = catalogue.find(name)
        first.setdefault(name if name in model.inference_profiles else model.id, name)
    return list(first.values())


def _operations(settings: Settings, catalogue: Catalogue) -> list[OperationSpec]:
    """The editing operations the deployed service could use: allowed, offered, not retired."""
    today = date.today()
    return [op for op in catalogue.operations if settings.operation_usable(op, today)]


def _cost_note(names: list[str], catalogue: Catalogue) -> str:
    prices = {name: catalogue.find(name).price_usd_per_image for name in names}
    each = ", ".join(f"{name} ${price:.3f}" for name, price in prices.items())
    return (
        f"Next: one image per allowed model, about ${sum(prices.values()):.2f} ({each};"
        " catalogue estimates, see https://aws.amazon.com/bedrock/pricing/)."
        " Use --no-invoke to skip."
    )


def run(args: argparse.Namespace, stack: StackSettings, report: Report) -> None:
    catalogue = default_catalogue()
    report.note(f"imagegen doctor: stack {stack.name}, region {stack.region}")
    result, settings = checks.stack_settings(stack, catalogue)
    report.add(result)
    try:
        session = boto3.Session(region_name=stack.region)
        result, caller = checks.credentials(session.client("sts"))
    except BotoCoreError as exc:
        result, caller = checks.credentials_unusable(exc), None
    report.add(result)
    if caller is None:
        report.note("Stopped: every other check needs working AWS credentials.")
        return

    def skipped(check: str) -> bool:
        if check in args.skip:
            report.add(Result(check, Status.SKIP, f"skipped (--skip {check})"))
        return check in args.skip

    models = _models(stack.allowed_models, catalogue)
    bedrock = session.client("bedrock")
    if not skipped("offered"):
        for model in models:
            report.add(checks.model_offered(bedrock, model, stack.region, stack.file))
    if not skipped("access"):
        for model in models:
            report.add(checks.model_access(bedrock, model, stack.region))
    operations = _operations(settings, catalogue) if settings is not None else []
    if not skipped("profile"):
        for operation in operations:
            if operation.invoke_id(stack.region) != operation.id:
                report.add(checks.profile_routes(bedrock, operation, stack.region, stack.file))
    if not skipped("marketplace"):
        report.add(checks.marketplace_permissions(session.client("iam"), caller))
    if not skipped("concurrency"):
        function_name = args.function_name or f"imagegen-{stack.name}"
        report.add(checks.reserved_concurrency(session.client("lambda"), stack, function_name))
    if not skipped("logging"):
        report.add(checks.api_gateway_logging(session.client("apigateway"), stack))

    if operations:
        report.note(
            f"Not invoked (a paid call each): the {len(operations)} editing operations. Until"
            " each one's model has answered your credentials once, its edits fail in the Lambda,"
            " whose role cannot subscribe to a model."
        )
    if args.no_invoke:
        text = (
            "--no-invoke: until one call per model succeeds with your credentials, a model the"
            " account has not subscribed to fails in the Lambda, whose role cannot subscribe"
        )
        report.add(Result("invoke", Status.SKIP, text))
        return
    if settings is None:
        report.add(Result("invoke", Status.SKIP, "fix the stack settings first"))
        return
    names = _invocation_names(stack, catalogue)
    report.note(_cost_note(names, catalogue))
    runtime = session.client("bedrock-runtime", config=_INVOKE_CONFIG)
    for name in names:
        report.add(checks.invocation(runtime, name, settings, catalogue, date.today()))


def rerun_command(stack: str, argv: list[str]) -> str:
    """The same run again, options included: dropping ``--no-invoke`` would make it pay."""
    extra, skip_next = [], False
    for arg in argv:
        if skip_next or arg.startswith("--stack="):
            skip_next = False
            continue
        if arg == "--stack":
            skip_next = True
            continue
        extra.append(arg)
    command = f"make doctor STACK={stack}"
    return f"{command} ARGS={shlex.quote(shlex.join(extra))}" if extra else command


def main(argv: list[str] | None = None) -> int:
    """Entry point for ``python -m preflight`` and ``imagegen doctor``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        stack = load(args.stack)
    except StackError as exc:
        print(f"imagegen doctor: {exc}", file=sys.stderr)
        return 1
    report = Report(sys.stdout)
    run(args, stack, report)
    report.summary(rerun_command(stack.name, sys.argv[1:] if argv is None else argv))
    return 1 if report.counts[Status.FAIL] else 0

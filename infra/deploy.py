"""Deploy an environment's stacks with the AWS CLI, in dependency order.

    python -m infra.deploy staging --image-tag "$(git rev-parse HEAD)"
    python -m infra.deploy staging --image-tag SHA --stacks services monitoring
    python -m infra.deploy production --image-tag SHA --dry-run     # print, run nothing

Parameters come from ``infra/parameters/<environment>/<stack>.json``; the services stack
gets ``ImageTag``, the monitoring stack the load balancer's and target groups' names from
the network and services stacks' outputs. Each stack is ``aws cloudformation deploy``ed
(a change set; nothing happens when nothing changed), and the first failure stops the run.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

INFRA = Path(__file__).resolve().parent
STACKS = ("network", "data", "services", "monitoring")
PROJECT_TAG = "project=house-price-predictor"

Outputs = Callable[[str], dict[str, str]]


def main(argv: Sequence[str] | None = None) -> int:
    """Deploy (or with ``--dry-run`` print) the chosen stacks of one environment."""
    args = _parser().parse_args(argv)
    outputs: Outputs = _placeholder_outputs if args.dry_run else stack_outputs
    for stack in args.stacks:
        parameters = stack_parameters(
            args.environment, stack, image_tag=args.image_tag, outputs=outputs
        )
        command = deploy_command(args.environment, stack, parameters)
        print(shlex.join(command), flush=True)
        if not args.dry_run:
            subprocess.run(command, check=True)  # noqa: S603 - fixed argv, no shell
    return 0


def stack_name(environment: str, stack: str) -> str:
    """The CloudFormation stack name of one lifecycle stack."""
    return f"hpp-{environment}-{stack}"


def template_path(stack: str) -> Path:
    """Where a stack's template lives."""
    return INFRA / "cloudformation" / f"{stack}.yaml"


def load_parameters(environment: str, stack: str) -> dict[str, str]:
    """The environment's parameter file for one stack (``{name: value}``)."""
    path = INFRA / "parameters" / environment / f"{stack}.json"
    return {key: str(value) for key, value in json.loads(path.read_text()).items()}


def stack_parameters(
    environment: str, stack: str, *, image_tag: str, outputs: Outputs
) -> dict[str, str]:
    """The parameter file plus what is known only at deploy time."""
    parameters = load_parameters(environment, stack)
    if stack == "services":
        parameters["ImageTag"] = image_tag
    if stack == "monitoring":
        network = outputs(stack_name(environment, "network"))
        services = outputs(stack_name(environment, "services"))
        parameters["LoadBalancerFullName"] = network["LoadBalancerFullName"]
        parameters["GatewayTargetGroupFullName"] = services["GatewayTargetGroupFullName"]
        parameters["UiTargetGroupFullName"] = services["UiTargetGroupFullName"]
    return parameters


def deploy_command(environment: str, stack: str, parameters: dict[str, str]) -> list[str]:
    """The ``aws cloudformation deploy`` argv for one stack."""
    return [
        "aws",
        "cloudformation",
        "deploy",
        "--stack-name",
        stack_name(environment, stack),
        "--template-file",
        str(template_path(stack)),
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-fail-on-empty-changeset",
        "--tags",
        PROJECT_TAG,
        f"environment={environment}",
        "--parameter-overrides",
        *[f"{key}={value}" for key, value in parameters.items()],
    ]


def stack_outputs(name: str) -> dict[str, str]:
    """A deployed stack's outputs through the AWS CLI."""
    result = subprocess.run(  # noqa: S603 - fixed argv, no shell
        [  # noqa: S607 - the AWS CLI from PATH, as an operator runs it
            "aws",
            "cloudformation",
            "describe-stacks",
            "--stack-name",
            name,
            "--query",
            "Stacks[0].Outputs",
            "--output",
            "json",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return {item["OutputKey"]: item["OutputValue"] for item in json.loads(result.stdout) or []}


def _placeholder_outputs(name: str) -> dict[str, str]:
    keys = ("LoadBalancerFullName", "GatewayTargetGroupFullName", "UiTargetGroupFullName")
    return {key: f"<{name}:{key}>" for key in keys}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    environments = sorted(p.name for p in (INFRA / "parameters").iterdir() if p.is_dir())
    parser.add_argument("environment", choices=environments)
    parser.add_argument("--image-tag", required=True, help="Image tag to run (the git SHA).")
    parser.add_argument(
        "--stacks",
        nargs="+",
        choices=STACKS,
        default=list(STACKS),
        help="Stacks to deploy, in this order (default: all).",
    )
    parser.add_argument("--dry-run", action="store_true", help="Print the commands only.")
    return parser


if __name__ == "__main__":
    sys.exit(main())

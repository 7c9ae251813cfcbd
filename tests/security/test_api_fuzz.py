"""A full schemathesis run (every phase, stateful links included) against a real gateway.

The CLI runs the examples, coverage, fuzzing and stateful phases over the gateway's own
OpenAPI document, with a real worker behind the job routes, and every check: no server
error, and the API and its document agree (status codes, content types, ``Allow``
headers, response and event schemas, valid requests accepted and invalid ones refused;
what JSON Schema cannot state is in ``tests/schemathesis.toml``). In the stateful phase
schemathesis follows links between operations: the ones the document declares and the
ones it infers from responses (``Location`` headers of submitted jobs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.gateway_process import GatewayProcess
from tests.support.keys import ALICE

MAX_EXAMPLES = 25
CONFIG = Path(__file__).resolve().parents[1] / "schemathesis.toml"


@pytest.mark.slow
def test_schemathesis_full_run_with_every_check_finds_nothing(
    jobs_gateway: GatewayProcess, tmp_path: Path
) -> None:
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        pytest.skip("schemathesis is not installed")
    run = subprocess.run(
        [
            st,
            "--config-file",
            str(CONFIG),
            "run",
            f"{jobs_gateway.url}/openapi.json",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--checks",
            "all",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--header",
            f"X-API-Key: {ALICE['X-API-Key']}",
            "--workers",
            "1",
            "--seed",
            "8",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,  # the CLI keeps its example database in the working directory
        capture_output=True,
        text=True,
        timeout=900,
    )
    out = run.stdout + run.stderr
    print("\n" + "\n".join(out.splitlines()[-45:]))
    assert "Server error" not in out, out[-6000:]
    assert not re.findall(r"❌\s+\S+", out), out[-6000:]
    assert run.returncode == 0, out[-6000:]

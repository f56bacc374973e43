"""Where the npm clients live, and the rule for skipping them.

`./run test` installs them into tests/thirdparty/node/node_modules with `npm ci`. Locally, a
machine without node or npm skips those tests (saying why); in CI (CI=true) they must run, so
a missing install fails instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).resolve().parent / "node"
NODE_MODULES = NODE_DIR / "node_modules"
# The Go binary that the npm package `zbctl` ships; its `bin/zbctl` wrapper only picks the
# platform's binary (and asks the registry for updates, which we do not want in tests).
ZBCTL_BINARY = NODE_MODULES / "zbctl" / "bin" / "zbctl-cli.linux"
CAMUNDA8_SDK = NODE_MODULES / "@camunda8" / "sdk"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require_node_package(path: Path, what: str) -> None:
    """Skip (locally) or fail (in CI) unless node, npm and the installed package are there."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        reason = f"{' and '.join(missing)} not installed: cannot run the {what} tests"
    elif not path.exists():
        reason = f"{what} is not installed in {NODE_MODULES}: run ./run test (npm ci)"
    else:
        return
    if _in_ci():
        pytest.fail(f"{reason} (CI must run them)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def zbctl() -> Path:
    require_node_package(ZBCTL_BINARY, "zbctl")
    return ZBCTL_BINARY


@pytest.fixture(scope="session")
def camunda8_sdk() -> Path:
    require_node_package(CAMUNDA8_SDK, "@camunda8/sdk")
    node = shutil.which("node")
    assert node is not None
    return Path(node)

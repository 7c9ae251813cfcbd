"""Shared fixtures live in tests/fixtures/, one module per real service they start.

Helpers (constants, builders, waits, process wrappers) live in tests/support/; tests import
those, never a conftest.
"""

pytest_plugins = [
    "tests.fixtures.jobs_gateway",
    "tests.fixtures.model",
    "tests.fixtures.moto",
    "tests.fixtures.redis",
]

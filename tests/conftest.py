"""Shared fixtures live in tests/fixtures/, one module per real service they start."""

pytest_plugins = [
    "tests.fixtures.model",
    "tests.fixtures.moto",
    "tests.fixtures.redis",
]

"""The test library: helpers that tests import (constants, builders, real processes, waits).

One module per concern. Fixtures live in ``conftest.py`` files and ``tests/fixtures/`` and
use this library; no test imports a conftest (``tests/test_architecture.py`` checks).
"""

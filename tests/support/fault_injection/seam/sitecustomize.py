"""Imported by Python at start-up in processes given this folder on ``PYTHONPATH``
(``tests.support.fault_injection.armed``): arms the fault-injection hooks. Tests only."""

from tests.support.fault_injection import install

install()

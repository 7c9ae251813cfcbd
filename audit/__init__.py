"""The audit trail: every prediction in a hash chain that ``hpp audit verify`` can check.

``chain`` (hashing, sealing, signed heads), ``records`` (what a record holds), ``store``
(rotated JSONL files or S3 objects), ``writer`` (the gateway's buffered background writer),
``verify`` and ``backtest``. Imports nothing of the other packages but ``ml.contract``.
"""

"""The audit trail: every prediction in a hash chain that ``hpp audit verify`` can check.

``chain`` (hashing, sealing, signed heads), ``records`` (what a record holds), ``store``
(rotated JSONL files or S3 objects), ``writer`` (the gateway's buffered background writer),
``verify``, ``backtest`` and ``job_rows`` (a job chunk's rows, read from its payloads with
``workers.scoring``'s CSV reader). Imports nothing else of the other packages but
``ml.contract`` and ``core.aws``.
"""

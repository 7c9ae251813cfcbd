"""Batch scoring workers: Celery tasks that plan, score and finalize CSV jobs.

``app`` builds the Celery instance from settings, ``tasks`` holds the thin tasks,
``pipeline`` the steps as plain functions, ``chunking`` and ``scoring`` the CSV work.
The job records and files live in the ``jobs`` package, shared with the gateway.
"""

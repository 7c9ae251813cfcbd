"""Job storage shared by the gateway and the workers.

``keys`` names every Redis key and blob key; ``models`` the job record as stored, the Job
the API returns and its summary; ``store`` (workers) and ``async_store`` (gateway) the
records in Redis; ``blobs`` (async) and ``sync_blobs`` the job files in a folder or S3;
``row_index`` the format of the per-row prices. Importing this package imports none of them, so the
web app can import ``jobs.models`` alone (pydantic only).
"""

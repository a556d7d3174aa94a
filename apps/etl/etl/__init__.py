"""School ETL: extract grades from PostgreSQL, clean and enrich them, load
them into CSV/JSON files and a reporting table, and render an HTML report.

Each stage is a sub-command of ``python -m etl`` and runs in its own
container; stages hand data over through files on a shared work volume.
"""

__version__ = "1.0.0"

"""The columnar archive of analytics namespaces: Apache Iceberg tables (pyiceberg), read with
DuckDB by `abstractions.analytics`."""

from .archive import IcebergArchive, Plan

__all__ = ["IcebergArchive", "Plan"]

"""PostgreSQL."""
from .relational import PostgresRelational

__all__ = ["PostgresRelational"]

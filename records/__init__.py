"""Persistent records (SQLAlchemy 2 models), one module per area. Alembic reads `Base.metadata`."""

from common.db import Base
from records import audit, menus, operators, sms, ussd  # noqa: F401 - registers the tables on Base.metadata

__all__ = ["Base"]

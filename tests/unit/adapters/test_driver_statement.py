"""DriverStatement: constants the statement binds itself travel with it; a write that
leaves a Python-side column default to SQLAlchemy is refused when compiled.
"""

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, Table, bindparam, insert, select
from sqlalchemy.dialects import postgresql

from coagent.adapters.persistence.rows import DriverStatement

_TABLE = Table(
    "t",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("flag", Boolean, nullable=False, default=False),
)
_DIALECT = postgresql.asyncpg.dialect()  # type: ignore[attr-defined]


def test_constants_are_passed_and_parameters_by_name() -> None:
    statement = DriverStatement(
        select(_TABLE.c.id).where(_TABLE.c.id > bindparam("above")).limit(3)
    )
    sql, arguments = statement.arguments(_DIALECT, {"above": 7})
    assert "$1" in sql
    assert "$2" in sql
    assert arguments == [7, 3]
    with pytest.raises(KeyError):
        statement.arguments(_DIALECT, {})


def test_a_write_must_set_columns_with_python_defaults() -> None:
    statement = DriverStatement(insert(_TABLE).values(id=bindparam("p_id")))
    with pytest.raises(ValueError, match="flag"):
        statement.arguments(_DIALECT, {"p_id": 1})
    full = DriverStatement(insert(_TABLE).values(id=bindparam("p_id"), flag=bindparam("p_flag")))
    assert full.arguments(_DIALECT, {"p_id": 1, "p_flag": True})[1] == [1, True]

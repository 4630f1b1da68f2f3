"""A person's name in SQL, by the domain's rules (`coagent.domain.accounts.names`).

For the queries that label or order rows by a name in the database. Literal SQL only (no bind
parameters), so a statement built with these stays compilable once for the driver (rows.py).
Both dialects are covered: tests/integration/test_names.py compares them with the domain.
"""

from typing import Any

from sqlalchemy import String, func, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnClause, ColumnElement
from sqlalchemy.sql.functions import FunctionElement

_BLANK: ColumnClause[str] = literal_column("''", String())


class email_local_part(FunctionElement[str]):  # noqa: N801 (an SQL function's name)
    """The part of an address before its first "@" (the whole string if it has none)."""

    type = String()
    inherit_cache = True
    name = "email_local_part"


@compiles(email_local_part)
def _local_part(element: email_local_part, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite (and any other dialect): no split function; instr of the address with an "@"
    # appended finds the first "@", or the end when there is none.
    (email,) = element.clauses
    text = compiler.process(email, **kw)
    return f"substr({text}, 1, instr({text} || '@', '@') - 1)"


@compiles(email_local_part, "postgresql")
def _local_part_postgresql(element: email_local_part, compiler: SQLCompiler, **kw: Any) -> str:
    (email,) = element.clauses
    return f"split_part({compiler.process(email, **kw)}, '@', 1)"


def public_name_sql(full_name: Any, username: Any) -> ColumnElement[str]:
    """`public_name`: full name, else username, else NULL (blank counts as missing)."""
    return func.coalesce(func.nullif(full_name, _BLANK), func.nullif(username, _BLANK))


def display_name_sql(full_name: Any, username: Any, email: Any) -> ColumnElement[str]:
    """`display_name` of an existing account: full name, else username, else the email's
    local part (blank counts as missing).
    """
    return func.coalesce(
        func.nullif(full_name, _BLANK), func.nullif(username, _BLANK), email_local_part(email)
    )

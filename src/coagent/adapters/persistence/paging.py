"""Pages with their total through advanced-alchemy's repositories, for ORM lists off the hot
paths (the hot lists are Core statements on the driver: rows.py).
"""

from collections.abc import Sequence
from typing import TypeVar

from advanced_alchemy.base import ModelProtocol
from advanced_alchemy.filters import LimitOffset
from advanced_alchemy.repository import SQLAlchemyAsyncRepository
from advanced_alchemy.repository.typing import OrderingPair
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

Model = TypeVar("Model", bound=ModelProtocol)


async def model_page(
    session: AsyncSession,
    repository_type: type[SQLAlchemyAsyncRepository[Model]],
    conditions: Sequence[ColumnElement[bool]],
    *,
    order_by: list[OrderingPair],
    offset: int,
    limit: int,
) -> tuple[list[Model], int]:
    """A page of the repository's model rows matching `conditions`, in `order_by`
    ((column, descending) pairs), and the total of matching rows: one statement (a window
    count), plus a count of its own for a page past the end, which has no row to carry the
    total. Errors are not wrapped: the unit of work translates them (a pool timeout is
    `Unavailable`).
    """
    repository = repository_type(session=session, auto_expunge=False, wrap_exceptions=False)
    rows, total = await repository.get_many_and_count(
        LimitOffset(limit=limit, offset=offset), *conditions, order_by=order_by, use_cache=False
    )
    if not rows:
        total = await repository.count(*conditions)
    return list(rows), total

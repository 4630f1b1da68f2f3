"""SQLAlchemy agent-configuration repository (configurations, encrypted keys, versions)."""

import json
from collections.abc import Mapping, Sequence
from typing import Any, cast
from uuid import UUID

from sqlalchemy import Table, bindparam, case, delete, func, literal_column, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from coagent.adapters.persistence._agent_models import (
    AgentConfigModel,
    AgentConfigVersionModel,
    AgentKeyModel,
)
from coagent.adapters.persistence._models import CourseModel
from coagent.adapters.persistence.rows import DriverStatement, fetch_rows
from coagent.application.ports.agents import StoredKey
from coagent.domain.agents.config import (
    AgentConfig,
    AgentType,
    ConfigSnapshot,
    ConfigVersion,
    Provider,
    snapshot_of,
)
from coagent.domain.agents.keys import KEY_ORDER, KeyType
from coagent.domain.agents.schedule import parse_schedule, schedule_to_dict
from coagent.domain.agents.tools import (
    InterruptPolicy,
    parse_tool_bounds,
    parse_tools,
    tool_bounds_to_dict,
)
from coagent.domain.agents.trigger import parse_trigger, trigger_to_dict
from coagent.domain.errors import Conflict

NAME_TAKEN = "An agent configuration with this name already exists for this agent type"
CONCURRENT = "Another configuration of this agent type was activated at the same time; try again"

_TYPE_RANK = case(
    {agent_type.value: rank for rank, agent_type in enumerate(AgentType)},
    value=AgentConfigModel.type,
)
_KEY_RANK = case(
    {key_type.value: rank for rank, key_type in enumerate(KEY_ORDER)},
    value=AgentKeyModel.key_type,
)
_MAIN_MASK = (
    select(AgentKeyModel.mask)
    .where(
        AgentKeyModel.config_id == AgentConfigModel.id,
        AgentKeyModel.key_type == KeyType.API_KEY.value,
    )
    .correlate(AgentConfigModel)
    .scalar_subquery()
    .label("masked_api_key")
)


_CONFIG_FIELDS = (
    "id",
    "course_id",
    "type",
    "name",
    "provider",
    "model",
    "base_url",
    "system_prompt",
    "context_window",
    "trigger_config",
    "schedule_config",
    "settings",
    "tools",
    "tool_bounds",
    "interrupt_policy",
    "is_active",
    "created_by",
    "created_at",
    "updated_at",
    "revision",
)


def _course_configs_query() -> Any:
    """A course's configurations with their main key's mask, in `_list`'s order, as a Core
    statement run on the driver (rows.py): literals inline, :course_id the only parameter.
    """
    config, key = cast(Table, AgentConfigModel.__table__), cast(Table, AgentKeyModel.__table__)
    mask = (
        select(key.c.mask)
        .where(
            key.c.config_id == config.c.id,
            key.c.key_type == literal_column(f"'{KeyType.API_KEY.value}'"),
        )
        .scalar_subquery()
    )
    rank = case(
        *(
            (config.c.type == literal_column(f"'{agent_type.value}'"), literal_column(str(rank)))
            for rank, agent_type in enumerate(AgentType)
        ),
        else_=literal_column(str(len(AgentType))),
    )
    return (
        select(*(config.c[name] for name in _CONFIG_FIELDS), mask)
        .where(config.c.course_id == bindparam("course_id", type_=CourseModel.__table__.c.id.type))
        .order_by(rank, config.c.created_at, config.c.id)
    )


_COURSE_CONFIGS = DriverStatement(_course_configs_query())
# A course's active configuration of :agent_type with its main key's mask (the agent turn
# path, P6), and a configuration's key ciphertexts in fallback order: on the driver.
_ACTIVE_IN_COURSE = DriverStatement(
    select(*(AgentConfigModel.__table__.c[name] for name in _CONFIG_FIELDS), _MAIN_MASK).where(
        AgentConfigModel.course_id == bindparam("course_id"),
        AgentConfigModel.type == bindparam("agent_type"),
        AgentConfigModel.is_active.is_(True),
    )
)
_KEYS_OF = DriverStatement(
    select(AgentKeyModel.ciphertext)
    .where(AgentKeyModel.config_id == bindparam("config_id"))
    .order_by(_KEY_RANK)
)


def _json(value: Any) -> Any:
    # JSON columns: decoded by the driver's codec on PostgreSQL, by SQLAlchemy on SQLite;
    # text only where neither did.
    return json.loads(value) if isinstance(value, str) else value


def _config_of(row: Sequence[Any]) -> AgentConfig:
    """`_config` of a `_COURSE_CONFIGS` row, by position."""
    (
        config_id,
        course_id,
        agent_type,
        name,
        provider,
        model,
        base_url,
        system_prompt,
        context_window,
        trigger_config,
        schedule_config,
        settings,
        tools,
        tool_bounds,
        interrupt_policy,
        is_active,
        created_by,
        created_at,
        updated_at,
        revision,
        mask,
    ) = row
    return AgentConfig(
        id=config_id,
        course_id=course_id,
        type=AgentType(agent_type),
        name=name,
        provider=Provider(provider),
        model=model,
        base_url=base_url,
        system_prompt=system_prompt,
        context_window=context_window,
        trigger=parse_trigger(_json(trigger_config)),
        schedule=parse_schedule(_json(schedule_config)),
        settings=dict(_json(settings) or {}),
        tools=parse_tools(_json(tools)),
        tool_bounds=parse_tool_bounds(_json(tool_bounds)),
        interrupt_policy=InterruptPolicy(interrupt_policy),
        is_active=is_active,
        created_by=created_by,
        created_at=created_at,
        updated_at=updated_at,
        masked_api_key=mask,
        revision=revision,
    )


def _placed(course_id: UUID | None) -> ColumnElement[bool]:
    if course_id is None:
        return AgentConfigModel.course_id.is_(None)
    return AgentConfigModel.course_id == course_id


def _snapshot_fields(row: AgentConfigModel | AgentConfigVersionModel) -> dict[str, Any]:
    """The fields a version keeps, read from a configuration's or a version's row (the same
    columns): the keyword arguments of a `ConfigSnapshot`, and part of an `AgentConfig`'s.
    """
    return {
        "name": row.name,
        "provider": Provider(row.provider),
        "model": row.model,
        "base_url": row.base_url,
        "system_prompt": row.system_prompt,
        "context_window": row.context_window,
        "trigger": parse_trigger(row.trigger_config),
        "schedule": parse_schedule(row.schedule_config),
        "settings": dict(row.settings or {}),
        "tools": parse_tools(row.tools),
        "tool_bounds": parse_tool_bounds(row.tool_bounds),
        "interrupt_policy": InterruptPolicy(row.interrupt_policy),
    }


def _config(row: AgentConfigModel, mask: str | None) -> AgentConfig:
    return AgentConfig(
        id=row.id,
        course_id=row.course_id,
        type=AgentType(row.type),
        **_snapshot_fields(row),
        is_active=row.is_active,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        masked_api_key=mask,
        revision=row.revision,
    )


def _snapshot_values(snapshot: ConfigSnapshot) -> dict[str, Any]:
    return {
        "name": snapshot.name,
        "provider": snapshot.provider.value,
        "model": snapshot.model,
        "base_url": snapshot.base_url,
        "system_prompt": snapshot.system_prompt,
        "context_window": snapshot.context_window,
        "trigger_config": trigger_to_dict(snapshot.trigger),
        "schedule_config": schedule_to_dict(snapshot.schedule),
        "settings": dict(snapshot.settings),
        "tools": list(snapshot.tools),
        "tool_bounds": tool_bounds_to_dict(snapshot.tool_bounds),
        "interrupt_policy": snapshot.interrupt_policy.value,
    }


def _values(config: AgentConfig) -> dict[str, Any]:
    return {**_snapshot_values(snapshot_of(config)), "updated_at": config.updated_at}


def _version(row: AgentConfigVersionModel) -> ConfigVersion:
    return ConfigVersion(
        id=row.id,
        config_id=row.config_id,
        version_label=row.version_label,
        snapshot=ConfigSnapshot(**_snapshot_fields(row)),
        created_by=row.created_by,
        created_at=row.created_at,
    )


def _conflict(error: IntegrityError) -> Conflict | IntegrityError:
    """Which uniqueness guarantee held. The message names the index (PostgreSQL) or the
    columns (SQLite); it is never shown or logged, only read here. Anything but a uniqueness
    violation (a check or foreign key: a caller's bug) stays what it is.
    """
    message = str(error.orig).lower()
    if "unique" not in message and "duplicate" not in message:
        return error
    if "name" in message:
        return Conflict(NAME_TAKEN)
    return Conflict(CONCURRENT)


class SqlAlchemyAgentConfigRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, config_id: UUID) -> AgentConfig | None:
        row = (
            await self._session.execute(
                select(AgentConfigModel, _MAIN_MASK).where(AgentConfigModel.id == config_id)
            )
        ).first()
        return _config(row[0], row[1]) if row else None

    async def active_for(self, course_id: UUID | None, agent_type: AgentType) -> AgentConfig | None:
        if course_id is not None:
            params = {"course_id": course_id, "agent_type": agent_type.value}
            rows = await fetch_rows(self._session, _ACTIVE_IN_COURSE, params)
            return _config_of(rows[0]) if rows else None
        row = (
            await self._session.execute(
                select(AgentConfigModel, _MAIN_MASK).where(
                    _placed(course_id),
                    AgentConfigModel.type == agent_type.value,
                    AgentConfigModel.is_active.is_(True),
                )
            )
        ).first()
        return _config(row[0], row[1]) if row else None

    async def first_of(self, course_id: UUID | None, agent_type: AgentType) -> AgentConfig | None:
        row = (
            await self._session.execute(
                select(AgentConfigModel, _MAIN_MASK)
                .where(_placed(course_id), AgentConfigModel.type == agent_type.value)
                .order_by(
                    AgentConfigModel.is_active.desc(),
                    AgentConfigModel.created_at,
                    AgentConfigModel.id,
                )
                .limit(1)
            )
        ).first()
        return _config(row[0], row[1]) if row else None

    async def list_for_course(self, course_id: UUID) -> Sequence[AgentConfig]:
        rows = await fetch_rows(self._session, _COURSE_CONFIGS, {"course_id": course_id})
        return [_config_of(row) for row in rows]

    async def list_system(self) -> Sequence[AgentConfig]:
        return await self._list(_placed(None))

    async def _list(self, condition: ColumnElement[bool]) -> Sequence[AgentConfig]:
        rows = await self._session.execute(
            select(AgentConfigModel, _MAIN_MASK)
            .where(condition)
            .order_by(_TYPE_RANK, AgentConfigModel.created_at, AgentConfigModel.id)
        )
        return [_config(row[0], row[1]) for row in rows]

    async def name_taken(
        self,
        course_id: UUID | None,
        agent_type: AgentType,
        name: str,
        *,
        except_id: UUID | None = None,
    ) -> bool:
        query = select(AgentConfigModel.id).where(
            _placed(course_id),
            AgentConfigModel.type == agent_type.value,
            AgentConfigModel.name == name,
        )
        if except_id is not None:
            query = query.where(AgentConfigModel.id != except_id)
        return (await self._session.scalar(query.limit(1))) is not None

    async def add(self, config: AgentConfig) -> None:
        try:
            async with self._session.begin_nested():
                self._session.add(
                    AgentConfigModel(
                        id=config.id,
                        course_id=config.course_id,
                        type=config.type.value,
                        is_active=config.is_active,
                        created_by=config.created_by,
                        created_at=config.created_at,
                        **_values(config),
                    )
                )
        except IntegrityError as error:
            translated = _conflict(error)
            if translated is error:
                raise
            raise translated from error

    async def update(self, config: AgentConfig) -> None:
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    update(AgentConfigModel)
                    .where(AgentConfigModel.id == config.id)
                    .values(**_values(config), revision=AgentConfigModel.revision + 1)
                )
        except IntegrityError as error:
            translated = _conflict(error)
            if translated is error:
                raise
            raise translated from error

    async def delete(self, config_id: UUID) -> None:
        await self._session.execute(
            delete(AgentConfigModel).where(AgentConfigModel.id == config_id)
        )

    async def activate(self, config_id: UUID) -> None:
        target = await self._session.get(AgentConfigModel, config_id)
        if target is None:
            return
        group = [_placed(target.course_id), AgentConfigModel.type == target.type]
        # Lock the whole (course, type) group in one order, so concurrent activations queue
        # up instead of deadlocking; the partial unique index is the last word either way.
        await self._session.execute(
            select(AgentConfigModel.id)
            .where(*group)
            .order_by(AgentConfigModel.id)
            .with_for_update()
        )
        try:
            async with self._session.begin_nested():
                await self._session.execute(
                    update(AgentConfigModel)
                    .where(*group, AgentConfigModel.id != config_id, AgentConfigModel.is_active)
                    .values(is_active=False)
                )
                await self._session.execute(
                    update(AgentConfigModel)
                    .where(AgentConfigModel.id == config_id)
                    .values(is_active=True)
                )
        except IntegrityError as error:
            raise Conflict(CONCURRENT) from error

    async def keys_of(self, config_id: UUID) -> Sequence[str]:
        rows = await fetch_rows(self._session, _KEYS_OF, {"config_id": config_id})
        return [ciphertext for (ciphertext,) in rows]

    async def key_masks(self, config_id: UUID) -> Mapping[KeyType, str]:
        rows = await self._session.execute(
            select(AgentKeyModel.key_type, AgentKeyModel.mask)
            .where(AgentKeyModel.config_id == config_id)
            .order_by(_KEY_RANK)
        )
        return {KeyType(key_type): mask for key_type, mask in rows}

    async def set_key(
        self, config_id: UUID, key_type: KeyType, *, ciphertext: str, mask: str
    ) -> None:
        changed = await self._session.execute(
            update(AgentKeyModel)
            .where(AgentKeyModel.config_id == config_id, AgentKeyModel.key_type == key_type.value)
            .values(ciphertext=ciphertext, mask=mask)
        )
        if getattr(changed, "rowcount", 0):
            return
        try:
            async with self._session.begin_nested():
                self._session.add(
                    AgentKeyModel(
                        config_id=config_id,
                        key_type=key_type.value,
                        ciphertext=ciphertext,
                        mask=mask,
                    )
                )
        except IntegrityError:
            # Written meanwhile by a concurrent request: the last write wins.
            await self._session.execute(
                update(AgentKeyModel)
                .where(
                    AgentKeyModel.config_id == config_id,
                    AgentKeyModel.key_type == key_type.value,
                )
                .values(ciphertext=ciphertext, mask=mask)
            )

    async def delete_key(self, config_id: UUID, key_type: KeyType) -> None:
        await self._session.execute(
            delete(AgentKeyModel).where(
                AgentKeyModel.config_id == config_id, AgentKeyModel.key_type == key_type.value
            )
        )

    async def stored_keys(self, *, after: UUID | None, limit: int) -> Sequence[StoredKey]:
        query = select(AgentKeyModel.id, AgentKeyModel.ciphertext)
        if after is not None:
            query = query.where(AgentKeyModel.id > after)
        rows = await self._session.execute(query.order_by(AgentKeyModel.id).limit(limit))
        return [StoredKey(id=key_id, ciphertext=ciphertext) for key_id, ciphertext in rows]

    async def replace_ciphertext(self, key_id: UUID, ciphertext: str) -> None:
        await self._session.execute(
            update(AgentKeyModel).where(AgentKeyModel.id == key_id).values(ciphertext=ciphertext)
        )

    async def add_version(self, version: ConfigVersion) -> None:
        self._session.add(
            AgentConfigVersionModel(
                id=version.id,
                config_id=version.config_id,
                version_label=version.version_label,
                created_by=version.created_by,
                created_at=version.created_at,
                updated_at=version.created_at,
                **_snapshot_values(version.snapshot),
            )
        )
        await self._session.flush()

    async def get_version(self, version_id: UUID) -> ConfigVersion | None:
        row = await self._session.get(AgentConfigVersionModel, version_id)
        return _version(row) if row else None

    async def list_versions(
        self, config_id: UUID, *, offset: int, limit: int
    ) -> tuple[Sequence[ConfigVersion], int]:
        rows = await self._session.execute(
            select(AgentConfigVersionModel, func.count().over())
            .where(AgentConfigVersionModel.config_id == config_id)
            .order_by(AgentConfigVersionModel.created_at.desc(), AgentConfigVersionModel.id.desc())
            .offset(offset)
            .limit(limit)
        )
        found = list(rows)
        if not found and offset > 0:
            total = await self._session.scalar(
                select(func.count()).where(AgentConfigVersionModel.config_id == config_id)
            )
            return [], int(total or 0)
        return [_version(row[0]) for row in found], int(found[0][1]) if found else 0

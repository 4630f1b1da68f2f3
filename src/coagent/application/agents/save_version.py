"""SaveAgentConfigVersion."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.agents.access import config_access
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import UnitOfWorkFactory
from coagent.domain.agents.config import ConfigVersion, snapshot_of
from coagent.domain.courses.policy import Action
from coagent.domain.errors import InvalidInput

MAX_LABEL = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class SaveAgentConfigVersionCommand:
    """`version_label` None or blank: "v<n>" (n = the number of versions so far + 1)."""

    actor_id: UUID
    config_id: UUID
    version_label: str | None = None


class SaveAgentConfigVersion:
    """`agent_config.manage` on its course (versions show prompts: never to students or TAs);
    admins only for system configurations. Snapshots everything but the keys.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def execute(self, command: SaveAgentConfigVersionCommand) -> ConfigVersion:
        label = (command.version_label or "").strip()
        if len(label) > MAX_LABEL or "\x00" in label:
            raise InvalidInput(f"version_label must be at most {MAX_LABEL} characters")
        async with self._uow() as uow:
            actor, config = await config_access(
                uow, command.actor_id, command.config_id, Action.AGENT_CONFIG_MANAGE
            )
            if not label:
                _, total = await uow.agent_configs.list_versions(config.id, offset=0, limit=1)
                label = f"v{total + 1}"
            version = ConfigVersion(
                id=self._ids.new_id(),
                config_id=config.id,
                version_label=label,
                snapshot=snapshot_of(config),
                created_by=actor.id,
                created_at=self._clock.now(),
            )
            await uow.agent_configs.add_version(version)
            await uow.commit()
        return version

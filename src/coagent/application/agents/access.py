"""Applying the course policy to agent configurations.

Course configurations follow `coagent.domain.courses.policy` (`agent_config.read` for TAs and
above, `agent_config.manage` for co-teachers and above, admins always). System configurations
(no course) are the admins' alone. Whoever may not know of a configuration gets NotFound.
"""

from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.courses.access import standing_in
from coagent.application.ports.repositories import UnitOfWork
from coagent.domain.accounts.user import User
from coagent.domain.agents.config import AgentConfig
from coagent.domain.courses.policy import Action, Decision, decide
from coagent.domain.errors import Forbidden, NotFound

CONFIG_NOT_FOUND = "Agent configuration not found"
VERSION_NOT_FOUND = "Version not found"
SYSTEM_ONLY_ADMINS = "Only admins manage system agent configurations"


async def config_access(
    uow: UnitOfWork, actor_id: UUID, config_id: UUID, action: Action
) -> tuple[User, AgentConfig]:
    """`load_actor` then `authorize_config`: the actor as stored now and the configuration."""
    actor = await load_actor(uow, actor_id)
    return actor, await authorize_config(uow, actor, config_id, action)


def require_admin(actor: User) -> None:
    """System configurations: admins and super admins only."""
    if not actor.role.is_admin:
        raise Forbidden(SYSTEM_ONLY_ADMINS)


async def authorize_config(
    uow: UnitOfWork, actor: User, config_id: UUID, action: Action
) -> AgentConfig:
    """The configuration, if the actor may do `action` on it; NotFound when they may not know
    of it (outside its course, or a system configuration and not an admin).
    """
    config = await uow.agent_configs.get(config_id)
    if config is None:
        raise NotFound(CONFIG_NOT_FOUND)
    if config.course_id is None:
        if not actor.role.is_admin:
            raise NotFound(CONFIG_NOT_FOUND)
        return config
    course = await uow.courses.get(config.course_id)
    if course is None:
        raise NotFound(CONFIG_NOT_FOUND)
    decision = decide(await standing_in(uow, actor, course), action)
    if decision is Decision.HIDDEN:
        raise NotFound(CONFIG_NOT_FOUND)
    if decision is Decision.DENIED:
        raise Forbidden("You may not do this with this course's agents")
    return config

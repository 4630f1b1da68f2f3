"""SetAvatar: the account holder's picture."""

from dataclasses import dataclass
from uuid import UUID

from coagent.application.accounts.actor import load_actor
from coagent.application.ports.clock import Clock, IdGenerator
from coagent.application.ports.repositories import StoredImage, UnitOfWorkFactory
from coagent.domain.accounts.avatar import check_avatar
from coagent.domain.accounts.user import User

AVATAR_URL_PREFIX = "/static/avatars/"


@dataclass(frozen=True, slots=True, kw_only=True)
class SetAvatarCommand:
    actor_id: UUID
    data: bytes


class SetAvatar:
    """The account holder. Accepts only bytes that really are a JPEG, PNG or WebP of at most
    2 MB; the server picks the file name and type and replaces the previous image.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids

    async def execute(self, command: SetAvatarCommand) -> User:
        kind = check_avatar(command.data)
        file_name = f"{self._ids.new_id().hex}.{kind.extension}"
        async with self._uow() as uow:
            user = await load_actor(uow, command.actor_id)
            await uow.avatars.put(
                user.id, StoredImage(file_name=file_name, content_type=kind, data=command.data)
            )
            user = user.with_changes(
                avatar_url=AVATAR_URL_PREFIX + file_name, updated_at=self._clock.now()
            )
            await uow.users.update(user)
            await uow.commit()
        return user

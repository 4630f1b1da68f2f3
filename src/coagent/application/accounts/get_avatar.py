"""GetAvatar: a stored picture by its file name."""

from dataclasses import dataclass

from coagent.application.ports.repositories import StoredImage
from coagent.application.use_case import UnitOfWorkUseCase
from coagent.domain.errors import NotFound


@dataclass(frozen=True, slots=True, kw_only=True)
class GetAvatarCommand:
    file_name: str


class GetAvatar(UnitOfWorkUseCase):
    """Anyone: avatars are public by URL (unguessable names), like the original's /static."""

    async def execute(self, command: GetAvatarCommand) -> StoredImage:
        async with self._uow() as uow:
            image = await uow.avatars.get_by_file_name(command.file_name)
        if image is None:
            raise NotFound("Avatar not found")
        return image

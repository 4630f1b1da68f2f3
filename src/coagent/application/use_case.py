"""What the use cases that need nothing but a unit of work share: their constructor."""

from coagent.application.ports.repositories import UnitOfWorkFactory


class UnitOfWorkUseCase:
    """A use case run in units of work from `uow` and needing nothing else."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

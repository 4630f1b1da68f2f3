import pytest

from coagent.application.accounts.get_avatar import GetAvatar, GetAvatarCommand
from coagent.application.accounts.set_avatar import AVATAR_URL_PREFIX, SetAvatar, SetAvatarCommand
from coagent.domain.errors import InvalidInput, NotAuthenticated, NotFound
from tests.unit.application.conftest import Accounts
from tests.unit.images import jpeg_bytes, png_bytes, webp_bytes

pytestmark = pytest.mark.anyio


@pytest.fixture
def set_avatar(accounts: Accounts) -> SetAvatar:
    return SetAvatar(uow=accounts.uow, clock=accounts.clock, ids=accounts.ids)


@pytest.fixture
def get_avatar(accounts: Accounts) -> GetAvatar:
    return GetAvatar(uow=accounts.uow)


def file_name_of(url: str | None) -> str:
    assert url is not None
    assert url.startswith(AVATAR_URL_PREFIX)
    return url.removeprefix(AVATAR_URL_PREFIX)


@pytest.mark.parametrize(
    ("data", "content_type", "extension"),
    [
        (png_bytes(), "image/png", "png"),
        (jpeg_bytes(), "image/jpeg", "jpg"),
        (webp_bytes(), "image/webp", "webp"),
    ],
    ids=["png", "jpeg", "webp"],
)
async def test_the_server_names_and_types_the_stored_image(
    accounts: Accounts,
    set_avatar: SetAvatar,
    get_avatar: GetAvatar,
    data: bytes,
    content_type: str,
    extension: str,
) -> None:
    user = await accounts.add_user()
    accounts.clock.advance(minutes=5)

    updated = await set_avatar.execute(SetAvatarCommand(actor_id=user.id, data=data))

    name = file_name_of(updated.avatar_url)
    stem, _, suffix = name.partition(".")
    assert suffix == extension
    assert len(stem) == 32
    int(stem, 16)  # a hex id, nothing the client chose
    assert accounts.user(user.id).avatar_url == updated.avatar_url
    assert accounts.user(user.id).updated_at == accounts.clock.now()
    image = await get_avatar.execute(GetAvatarCommand(file_name=name))
    assert (image.content_type, image.data) == (content_type, data)


async def test_a_new_avatar_replaces_the_old_one(
    accounts: Accounts, set_avatar: SetAvatar, get_avatar: GetAvatar
) -> None:
    user = await accounts.add_user()
    old = await set_avatar.execute(SetAvatarCommand(actor_id=user.id, data=png_bytes()))

    new = await set_avatar.execute(SetAvatarCommand(actor_id=user.id, data=jpeg_bytes()))

    assert new.avatar_url != old.avatar_url
    with pytest.raises(NotFound):
        await get_avatar.execute(GetAvatarCommand(file_name=file_name_of(old.avatar_url)))
    image = await get_avatar.execute(GetAvatarCommand(file_name=file_name_of(new.avatar_url)))
    assert image.data == jpeg_bytes()
    assert list(accounts.store.avatars) == [user.id]


@pytest.mark.parametrize(
    "data", [b"", b"<svg xmlns='http://www.w3.org/2000/svg'/>"], ids=["empty", "svg"]
)
async def test_non_images_are_refused_before_anything_is_written(
    accounts: Accounts, set_avatar: SetAvatar, data: bytes
) -> None:
    user = await accounts.add_user()
    commits = accounts.store.commits

    with pytest.raises(InvalidInput):
        await set_avatar.execute(SetAvatarCommand(actor_id=user.id, data=data))

    assert accounts.store.commits == commits
    assert not accounts.store.avatars
    assert accounts.user(user.id).avatar_url is None


async def test_an_inactive_account_cannot_set_an_avatar(
    accounts: Accounts, set_avatar: SetAvatar
) -> None:
    user = await accounts.add_user(is_active=False)

    with pytest.raises(NotAuthenticated):
        await set_avatar.execute(SetAvatarCommand(actor_id=user.id, data=png_bytes()))

    assert not accounts.store.avatars


async def test_an_unknown_avatar_is_not_found(get_avatar: GetAvatar) -> None:
    with pytest.raises(NotFound):
        await get_avatar.execute(GetAvatarCommand(file_name="nothing.png"))

import pytest

from coagent.domain.chat.message import check_client_msg_id, check_content
from coagent.domain.errors import InvalidInput


@pytest.mark.parametrize("value", ["c-1", "ᶐ\u009a\U0008e66e", "x" * 64, "with space"])
def test_client_msg_ids_without_control_characters_are_kept(value: str) -> None:
    assert check_client_msg_id(value) == value


@pytest.mark.parametrize("value", ["", "x" * 65, "tab\there", "bell\x07", "del\x7f"])
def test_client_msg_ids_with_control_characters_or_bad_length_are_refused(value: str) -> None:
    with pytest.raises(InvalidInput, match="client_msg_id"):
        check_client_msg_id(value)


def test_content_is_checked_against_the_configured_length() -> None:
    assert check_content("hi", max_length=2) == "hi"
    with pytest.raises(InvalidInput, match="longer than 2"):
        check_content("hi!", max_length=2)

"""parse_decision: nothing but a well-formed approve approves."""

import json

import pytest

from coagent.domain.agents.proposal import UNREADABLE, parse_decision


@pytest.mark.parametrize(
    ("raw", "approve", "reason"),
    [
        ('{"decision": "approve", "reason": "on topic"}', True, "on topic"),
        ('  {"decision":"approve","reason":""}  ', True, ""),
        ('```json\n{"decision": "approve", "reason": "fine"}\n```', True, "fine"),
        ('{"decision": "reject", "reason": "too much"}', False, "too much"),
        ('{"decision": "reject", "reason": "  "}', False, "rejected by the teacher agent"),
        # junk, prose, the original system's failure ("NO" passed because it contained "YES")
        ("", False, UNREADABLE),
        (None, False, UNREADABLE),
        ("   ", False, UNREADABLE),
        ("yes", False, UNREADABLE),
        ("YES", False, UNREADABLE),
        ("Yes, approve it.", False, UNREADABLE),
        ("NO, yesterday YES would have been fine", False, UNREADABLE),
        ("approve", False, UNREADABLE),
        ("not json {", False, UNREADABLE),
        ('{"decision": "approve"', False, UNREADABLE),
        ('Sure! {"decision": "approve", "reason": "ok"}', False, UNREADABLE),
        # wrong shapes: a tool call with extra or missing fields, wrong types, wrong values
        ('{"decision": "approve", "reason": "ok", "extra": 1}', False, UNREADABLE),
        ('{"decision": "approve"}', False, UNREADABLE),
        ('{"reason": "ok"}', False, UNREADABLE),
        ("{}", False, UNREADABLE),
        ('["approve", "ok"]', False, UNREADABLE),
        ('{"decision": true, "reason": "ok"}', False, UNREADABLE),
        ('{"decision": "approve", "reason": null}', False, UNREADABLE),
        ('{"decision": "APPROVE", "reason": "ok"}', False, UNREADABLE),
        ('{"decision": "approved", "reason": "ok"}', False, UNREADABLE),
        ('{"decision": "yes", "reason": "ok"}', False, UNREADABLE),
        ('{"decision": "maybe", "reason": "ok"}', False, UNREADABLE),
        ('"approve"', False, UNREADABLE),
    ],
)
def test_parse_decision(raw: str | None, approve: bool, reason: str) -> None:
    decision = parse_decision(raw)
    assert decision.approve is approve
    assert decision.reason == reason


def test_a_long_reason_is_bounded() -> None:
    decision = parse_decision(json.dumps({"decision": "reject", "reason": "x" * 2000}))
    assert not decision.approve
    assert len(decision.reason) == 500

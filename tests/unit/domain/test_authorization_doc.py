"""docs/authorization.md shows the policy's table as it is in the code."""

from pathlib import Path

from coagent.domain.courses.policy import REQUIRED, Action, Relation

DOC = Path(__file__).resolve().parents[3] / "docs" / "authorization.md"
COLUMNS = [Relation.STUDENT, Relation.TA, Relation.CO_TEACHER, Relation.OWNER, Relation.ADMIN]


def test_the_documented_matrix_is_the_policy():
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and cells[0].startswith("`"):
            rows[cells[0].strip("`")] = cells[1:]
    assert set(rows) == {action.value for action in Action}
    for action in Action:
        expected = ["404"] + ["yes" if c >= REQUIRED[action] else "403" for c in COLUMNS]
        assert rows[action.value] == expected, action

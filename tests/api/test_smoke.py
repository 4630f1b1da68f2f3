from tests.api.conftest import signed_in


def test_login_then_me(client):
    session = signed_in(client)
    response = client.get("/api/v1/users/me", headers=session.headers)
    assert response.status_code == 200
    assert response.json()["email"] == session.user.email

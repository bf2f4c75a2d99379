"""Official accounts (design, "Official accounts"): a fan bound as an administrator cannot be
removed until unbound, and an account always keeps an administrator. Through real HTTP, as one
table of steps, and in the engine on both backends, a race of two last unbindings included."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from hushan.domain.errors import (
    AccountNeedsAdmin,
    FanIsAccountAdmin,
    InvalidAccountName,
    NotAccountAdmin,
)
from hushan.domain.official import check_account_name, check_can_remove_fan, check_can_unbind
from hushan.service import Hushan
from hushan.service.official import OfficialService
from tests.api_client import Api, User, expect_error, uid

HTTP = pytest.mark.usefixtures("no_server_errors")


@dataclass(frozen=True)
class Step:
    actor: str  # "owner", "second", "fan", "stranger", or "deployment" (the admin key)
    method: str
    path: str  # {acct} and the actors' names are filled in
    status: int
    result: str  # the reply's `status`, or the error's code


# One account's life, in order: each step's reply follows from the ones before it.
LIFE = [
    Step("stranger", "GET", "official-accounts/{acct}", 404, "account_not_found"),
    Step("fan", "PUT", "follows/{acct}", 404, "account_not_found"),
    Step("owner", "POST", "official-accounts", 201, ""),
    Step("owner", "POST", "official-accounts", 409, "account_exists"),
    Step("fan", "PUT", "follows/{acct}", 200, "following"),
    Step("fan", "PUT", "follows/{acct}", 200, "already_following"),
    Step("second", "PUT", "follows/{acct}", 200, "following"),
    Step("fan", "GET", "official-accounts/{acct}/fans", 409, "not_account_admin"),
    Step("fan", "DELETE", "official-accounts/{acct}/fans/{second}", 409, "not_account_admin"),
    Step("owner", "PUT", "official-accounts/{acct}/admins/{second}", 200, "bound"),
    Step("owner", "PUT", "official-accounts/{acct}/admins/{second}", 200, "already_bound"),
    # The rule: a fan who runs the account cannot be removed as a fan, until unbound.
    Step("owner", "DELETE", "official-accounts/{acct}/fans/{second}", 409, "fan_is_account_admin"),
    Step("second", "DELETE", "official-accounts/{acct}/admins/{second}", 200, "unbound"),
    Step("owner", "DELETE", "official-accounts/{acct}/fans/{second}", 200, "removed"),
    Step("owner", "DELETE", "official-accounts/{acct}/fans/{second}", 200, "not_a_fan"),
    # The last administrator stays.
    Step("owner", "DELETE", "official-accounts/{acct}/admins/{owner}", 409, "account_needs_admin"),
    Step("owner", "DELETE", "official-accounts/{acct}/admins/{second}", 200, "not_bound"),
    Step("owner", "PUT", "official-accounts/{acct}/admins/{nobody}", 404, "user_not_found"),
    # A fan's own unfollow is never refused, and the deployment may bind anyone.
    Step("fan", "DELETE", "follows/{acct}", 200, "unfollowed"),
    Step("fan", "DELETE", "follows/{acct}", 200, "not_following"),
    Step("deployment", "PUT", "official-accounts/{acct}/admins/{fan}", 200, "bound"),
    Step("fan", "DELETE", "official-accounts/{acct}/admins/{owner}", 200, "unbound"),
    Step("owner", "GET", "official-accounts/{acct}/admins", 409, "not_account_admin"),
]


@HTTP
def test_an_account_s_life_over_http(api: Api) -> None:
    people: dict[str, User] = {
        name: api.create_user(uid(name)) for name in ("owner", "second", "fan", "stranger")
    }
    acct = uid("acct")
    names = {name: user.id for name, user in people.items()} | {"acct": acct, "nobody": uid()}
    for step in LIFE:
        path = step.path.format(**names)
        if step.actor == "deployment":
            response = api.call(
                step.method,
                f"/v1/admin/{path.replace('official-accounts', 'official-accounts')}",
                admin=True,
            )
        else:
            user = people[step.actor]
            body = {"id": acct, "name": "同事圈 news"} if step.method == "POST" else None
            response = api.call(step.method, f"/v1/users/{user.id}/{path}", user, json=body)
        if step.status >= 400:
            expect_error(response, step.status, step.result)
        else:
            assert response.status_code == step.status, (step, response.text)
            if step.result:
                assert response.json()["status"] == step.result, step
    account = api.ok("GET", f"/v1/users/{people['fan'].id}/official-accounts/{acct}", people["fan"])
    assert (account["name"], account["fans"], account["admins"]) == ("同事圈 news", 0, 1)


@HTTP
def test_the_refusal_says_how_to_unbind_and_who_may(api: Api) -> None:
    owner, second = api.users("owner", "second")
    acct = uid("acct")
    base = f"/v1/users/{owner.id}/official-accounts"
    api.ok("POST", base, owner, json={"id": acct, "name": "Shop"})
    api.ok("PUT", f"/v1/users/{second.id}/follows/{acct}", second)
    api.ok("PUT", f"{base}/{acct}/admins/{second.id}", owner)
    refused = api.call("DELETE", f"{base}/{acct}/fans/{second.id}", owner)
    expect_error(refused, 409, "fan_is_account_admin")
    message = refused.json()["error"]["message"]
    assert f"DELETE /v1/users/{owner.id}/official-accounts/{acct}/admins/{second.id}" in message
    assert "Any administrator of the account" in message and f"or {second.id}" in message


@HTTP
def test_bad_names_and_ids_change_nothing(api: Api) -> None:
    owner = api.create_user(uid("owner"))
    base = f"/v1/users/{owner.id}/official-accounts"
    for body, code in (
        ({"id": uid("a"), "name": ""}, "invalid_account_name"),
        ({"id": uid("a"), "name": " padded"}, "invalid_account_name"),
        ({"id": uid("a"), "name": "x" * 65}, "invalid_account_name"),
        ({"id": "no spaces", "name": "ok"}, "invalid_user_id"),
    ):
        expect_error(api.call("POST", base, owner, json=body), 422, code)
        if code != "invalid_user_id":
            missing = api.call("GET", f"{base}/{body['id']}", owner)
            expect_error(missing, 404, "account_not_found")
    longest = api.ok("POST", base, owner, json={"id": uid("a"), "name": "名" * 64})
    assert longest["name"] == "名" * 64


# ---- the rules alone, and the engine on both backends ---------------------------------------
def test_the_rules() -> None:
    assert check_account_name("名" * 64) == "名" * 64
    for wrong in ("", " padded", "x" * 65, "tab\there"):
        with pytest.raises(InvalidAccountName):
            check_account_name(wrong)
    with pytest.raises(NotAccountAdmin):
        check_can_remove_fan("acct", "fan", "other", {"owner"})
    with pytest.raises(FanIsAccountAdmin) as refused:
        check_can_remove_fan("acct", "owner", "second", {"owner", "second"})
    assert str(refused.value) == (
        "second is bound as an administrator of official account acct, so cannot be removed as"
        " a fan. Unbind them first: DELETE /v1/users/owner/official-accounts/acct/admins/second."
        " Any administrator of the account may unbind them, or second may unbind themselves, as"
        " long as another administrator remains. (该粉丝已绑定为公众号管理员，请先解除管理员绑定。)"
    )
    check_can_remove_fan("acct", "owner", "fan", {"owner"})
    with pytest.raises(AccountNeedsAdmin):
        check_can_unbind("acct", "owner", "owner", {"owner"})
    with pytest.raises(NotAccountAdmin):
        check_can_unbind("acct", "fan", "owner", {"owner", "second"})
    check_can_unbind("acct", "second", "owner", {"owner", "second"})


def unbind_both_at_once(engine: Hushan, acct: str, admins: tuple[str, str]) -> list[str]:
    """Each administrator unbinds themselves, both at once; who was refused."""
    barrier = threading.Barrier(2)
    refused: list[str] = []

    def unbind_self(admin: str) -> None:
        barrier.wait()
        try:
            engine.unbind_admin(admin, acct, admin)
        except AccountNeedsAdmin:
            refused.append(admin)

    threads = [threading.Thread(target=unbind_self, args=(admin,)) for admin in admins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return refused


def test_two_administrators_unbinding_themselves_at_once_leave_one(engine: Hushan) -> None:
    """Each sees two administrators and may go; only the account's lock makes the second see
    one, and be refused."""
    for round_ in range(12):
        acct, a, b = f"acct-{round_}", f"a-{round_}", f"b-{round_}"
        engine.create_user(a)
        engine.create_user(b)
        engine.create_account(a, acct, "Shop")
        engine.bind_admin(a, acct, b)
        assert len(unbind_both_at_once(engine, acct, (a, b))) == 1
        assert engine.get_account(acct).admins == 1


def test_an_erased_administrator_leaves_the_account_to_the_deployment(engine: Hushan) -> None:
    engine.create_user("owner")
    engine.create_user("heir")
    engine.create_account("owner", "acct", "Shop")
    engine.follow("owner", "acct")
    engine.erase_account("owner")
    assert (engine.get_account("acct").fans, engine.get_account("acct").admins) == (0, 0)
    assert isinstance(engine, OfficialService)
    engine.bind_admin(None, "acct", "heir")  # the admin key's call
    assert [b.user for b in engine.account_bindings("heir", "acct", admins=True)] == ["heir"]

"""The web console in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright) against a real `hushan serve` on SQLite, over loopback.

One browser per test process, one server per module. Every page the tests open is checked by
axe-core (vendor/axe-core) for serious and critical violations, and its first load is timed
(Navigation Timing, from the request to the load event): the figures are printed at the end
and written to `console-page-loads.json` in the run's temporary directory. A missing browser
fails the tests: `make test` installs it first (scripts/ensure-chromium).
"""

from __future__ import annotations

import base64
import json
import os
import re
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, FilePayload, Page, expect, sync_playwright

from hushan.console.verifier_vocab import VOCAB
from tests.api_client import Api, User
from tests.server import ADMIN_KEY, Server
from tests.test_certificate_reasons import TABLE, Issued
from tests.test_certificate_reasons import issued as issued  # the module's fixture, reused

# One worker runs them all (`make test` distributes with `--dist loadgroup`): one server and one
# browser, started once.
pytestmark = [pytest.mark.xdist_group("console-browser"), pytest.mark.long]

CHROMIUM = Path(os.environ.get("HUSHAN_TEST_CHROMIUM", "/usr/bin/chromium"))
ROOT = Path(__file__).resolve().parent.parent
AXE = (ROOT / "vendor" / "axe-core" / "axe.min.js").read_text()
PAGES = ("contacts", "notices", "proposals", "cleanup", "residue", "certificates", "account")
CLEANUP_BATCH = 40  # the module server's largest cleanup batch: a page of 100 takes three
LOAD_BAR_MS = 300.0

# The first load of each page in this process (ms), and the pages axe has checked.
LOADS: dict[str, float] = {}
CHECKED: set[str] = set()
SHOT: set[str] = set()  # pages photographed (make screenshots)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run scripts/ensure-chromium (make test does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        # The browser's own first page (its renderer starting) is not a console page's load.
        warm = launched.new_page()
        warm.goto("data:text/html,<title>warm</title>")
        warm.close()
        yield launched
        launched.close()
    if LOADS:
        report = tmp_path_factory.getbasetemp() / "console-page-loads.json"
        report.write_text(json.dumps(LOADS, indent=1) + "\n")
        shown = ", ".join(f"{path} {ms:.0f} ms" for path, ms in sorted(LOADS.items()))
        print(f"\nconsole first page loads: {shown} (written to {report})")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(
        tmp_path_factory.mktemp("console"), HUSHAN_CLEANUP_MAX_BATCH=str(CLEANUP_BATCH)
    ).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def api(server: Server) -> Iterator[Api]:
    with Api(server.url) as client:
        yield client


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(base_url=server.url, accept_downloads=True, locale="en-US")
    opened = context.new_page()
    yield opened
    context.close()


def checked(page: Page) -> None:
    """axe-core on the page as it is, once per page: no serious or critical violation."""
    name = re.sub(r"\?.*$", "", page.url.split("/console/", 1)[-1]) or "home"
    if name in CHECKED:
        return
    page.evaluate(AXE)
    found = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target).join(", ")}`)"""
    )
    assert found == [], f"{page.url}: {found}"
    CHECKED.add(name)


def visit(page: Page, path: str) -> None:
    """Open a console page: its first load in this process is timed, and axe checks it."""
    page.goto(path)
    timing = page.evaluate(
        """() => { const n = performance.getEntriesByType("navigation")[0];
                   return n.loadEventEnd - n.startTime; }"""
    )
    asked = urlsplit(path).path
    if urlsplit(page.url).path == asked:  # not a redirect, nor a page that moved on
        LOADS.setdefault(asked, timing)
    checked(page)


def photographed(page: Page, name: str) -> None:
    """With HUSHAN_SCREENSHOTS=DIR (`make screenshots`): the page as it is now, 1280 and 390 px
    wide, as DIR/NAME-WIDTH.png (once per name)."""
    folder = os.environ.get("HUSHAN_SCREENSHOTS")
    if not folder or name in SHOT:
        return
    SHOT.add(name)
    size = page.viewport_size
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 720})
        page.screenshot(path=str(ROOT / folder / f"{name}-{width}.png"), full_page=True)
    if size is not None:
        page.set_viewport_size(size)


def sign_in(page: Page, user: User) -> None:
    visit(page, "/console/sign-in")
    page.get_by_label("Token").fill(user.token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/contacts$"))
    expect(page.locator("#current-user")).to_have_text(user.id)
    checked(page)


def friends(api: Api, *prefixes: str) -> list[User]:
    """New users, the first befriended with each of the others."""
    users = api.users(*prefixes)
    for other in users[1:]:
        api.befriend(users[0], other)
    return users


# ---- signing in ------------------------------------------------------------------------------
def test_sign_in_refused_with_a_wrong_token(page: Page, api: Api) -> None:
    (alice,) = api.users("alice")
    visit(page, "/console/sign-in")
    page.get_by_label("Token").fill(alice.token + "x")
    with page.expect_response("**/console/sign-in") as answer:
        page.get_by_role("button", name="Sign in").click()
    assert answer.value.status == 401
    expect(page.locator("#error")).to_contain_text("That token is not valid")
    expect(page.locator("#error")).to_have_attribute("data-code", "unauthenticated")
    photographed(page, "sign-in")
    expect(page.locator("#current-user")).to_have_count(0)
    checked(page)  # the page with its error shown
    # The session cookie is HttpOnly, SameSite=Strict, on /console only; there is none yet.
    assert not [c for c in page.context.cookies() if c["name"] == "hushan_session"]


def test_sign_in_by_keyboard_and_out_again(page: Page, api: Api) -> None:
    (alice,) = api.users("alice")
    visit(page, "/console/sign-in")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.get_by_label("Token").focus()
    page.keyboard.type(alice.token)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/console/contacts$"))
    (session,) = [c for c in page.context.cookies() if c["name"] == "hushan_session"]
    assert (session["httpOnly"], session["sameSite"], session["path"]) == (
        True,
        "Strict",
        "/console",
    )
    assert session["value"] != alice.token  # a session token of its own, revoked at sign-out
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#done")).to_have_text("You are signed out.")
    checked(page)
    gone = httpx.get(
        f"{page.url.split('/console')[0]}/v1/users/{alice.id}/contacts",
        headers={"authorization": f"Bearer {session['value']}"},
    )
    assert gone.status_code == 401
    visit(page, "/console/contacts")
    expect(page).to_have_url(re.compile(r"/console/sign-in$"))


def test_a_login_link_signs_in_once(page: Page, api: Api) -> None:
    (alice,) = api.users("alice")
    minted = api.ok("POST", f"/v1/users/{alice.id}/tokens", admin=True, json={"ttl_seconds": 300})
    visit(page, f"/console/link#{minted['token']}")
    expect(page).to_have_url(re.compile(r"/console/contacts$"))
    expect(page.locator("#current-user")).to_have_text(alice.id)
    # The link's token was spent on the sign-in.
    again = api.call("GET", f"/v1/users/{alice.id}/contacts", User(alice.id, minted["token"]))
    assert again.status_code == 401


def test_a_form_without_its_token_is_refused(page: Page, api: Api, server: Server) -> None:
    alice, bob = friends(api, "alice", "bob")
    sign_in(page, alice)
    session = {c["name"]: c["value"] for c in page.context.cookies()}
    forged = httpx.post(
        f"{server.url}/console/proposals/propose",
        data={"to": bob.id, "csrf": "0" * 64},
        cookies=session,
    )
    assert forged.status_code == 403
    assert 'data-code="csrf_token_invalid"' in forged.text
    assert api.ok("GET", f"/v1/users/{bob.id}/mutual-delete-proposals", bob)["proposals"] == []


# ---- the pages -------------------------------------------------------------------------------
def test_contacts_with_tags_and_layers(page: Page, api: Api) -> None:
    alice, bob, carol = friends(api, "alice", "bob", "carol")
    (stranger,) = api.users("stranger")
    api.ok("PUT", f"/v1/users/{alice.id}/contacts/{bob.id}/tags/family", alice)
    api.ok(
        "PUT", f"/v1/users/{alice.id}/contacts/{carol.id}/layer", alice, json={"layer": "chat_only"}
    )
    sign_in(page, alice)
    rows = page.locator("#contacts tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=bob.id)).to_contain_text("family")
    expect(rows.filter(has_text=bob.id)).to_contain_text("full")
    expect(rows.filter(has_text=carol.id)).to_contain_text("chat only")
    expect(page.locator("main")).not_to_contain_text(stranger.id)
    photographed(page, "contacts")


def test_proposals_notices_and_the_other_side(browser: Browser, page: Page, api: Api) -> None:
    alice, bob = friends(api, "alice", "bob")
    sign_in(page, alice)
    visit(page, "/console/proposals")
    page.get_by_label("To (user id)").fill(bob.id)
    page.get_by_label("Message").fill("let us part")
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#outgoing")).to_contain_text(bob.id)
    page.get_by_label("To (user id)").fill(bob.id)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#error")).to_have_attribute("data-code", "proposal_pending")
    photographed(page, "proposals")
    # Bob, in a browser of his own, sees it in his notices and accepts it.
    other = browser.new_context(base_url=page.url.split("/console")[0])
    try:
        bobs = other.new_page()
        sign_in(bobs, bob)
        visit(bobs, "/console/notices")
        expect(bobs.locator("#notices")).to_contain_text("mutual_delete_proposed")
        photographed(bobs, "notices")
        visit(bobs, "/console/proposals")
        expect(bobs.locator("#incoming")).to_contain_text("let us part")
        bobs.get_by_role("button", name=f"Accept: {alice.id}").click()
        expect(bobs.locator("#incoming")).to_have_count(0)  # answered: pending no more
    finally:
        other.close()
    assert api.contacts(alice) == [] and api.contacts(bob) == []


def test_residue_after_a_purge(page: Page, api: Api) -> None:
    alice, bob = friends(api, "alice", "bob")
    phone = api.ok("POST", f"/v1/users/{alice.id}/devices", alice, json={"name": "phone"})
    api.message(alice, bob.id, "hello")
    api.delete(alice, bob.id)
    api.delete(bob, alice.id)
    sign_in(page, alice)
    visit(page, "/console/residue")
    row = page.locator(f'#residue tr[data-other="{bob.id}"]')
    expect(row.locator(".state")).to_have_text("buffered")
    expect(row).to_contain_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"))
    api.advance(31 * 86400)
    api.sweep()
    sign_in(page, alice)  # the session's token does not outlive 31 days
    visit(page, "/console/residue")
    expect(row.locator(".state")).to_have_text("purged")
    expect(row.locator(".devices")).to_have_text(f"phone ({phone['id']})")
    photographed(page, "residue")
    assert api.ok("GET", f"/v1/users/{alice.id}/data-residue", alice)["histories"][0]["state"] == (
        "purged"
    )


def test_certificate_download_and_verification(page: Page, api: Api, tmp_path: Path) -> None:
    alice, bob = friends(api, "alice", "bob")
    api.message(alice, bob.id, "hello")
    api.delete(alice, bob.id)
    sign_in(page, alice)
    visit(page, "/console/certificates")
    page.get_by_label("The other user (user id)").fill(bob.id)
    with page.expect_download() as downloaded:
        page.get_by_role("button", name="Request and download").click()
    data = Path(downloaded.value.path()).read_bytes()
    assert json.loads(data)["body"]["claims"]["relation"] == "b_has_a"

    def verdict(content: bytes) -> str:
        page.locator("#verdict").evaluate("(box) => delete box.dataset.verdict")
        page.get_by_label("Certificate file").set_input_files(
            files=[
                FilePayload(name="certificate.json", mimeType="application/json", buffer=content)
            ]
        )
        page.get_by_role("button", name="Verify").click()
        expect(page.locator("#verdict[data-verdict]")).to_have_count(1)
        return page.locator("#verdict").inner_text()

    assert "Valid certificate" in verdict(data)
    document = json.loads(data)
    document["body"]["claims"]["relation"] = "both_way"  # a claim changed, signature kept
    tampered = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    shown = verdict((tampered + "\n").encode())
    assert "Rejected" in shown and "signature_invalid" in shown
    expect(page.locator("#verdict-reason")).to_have_text("Reason: signature_invalid")
    photographed(page, "certificates")
    assert "not_canonical" in verdict(data.replace(b'{"body"', b'{ "body"', 1))
    checked(page)


def test_the_page_verifier_gives_the_python_verifiers_reasons(
    page: Page,
    api: Api,
    issued: Issued,  # noqa: F811
) -> None:
    """Every spoilt certificate of tests/test_certificate_reasons, checked in the page: the
    same refusal, word for word, as hushan.tlog.certificate.verify."""
    visit(page, "/console/sign-in")
    page.add_script_tag(url="/console/static/verify.js")
    key = str(issued.engine.log.signer.verifier)
    check = """async ([data, key, vocab]) => {
        const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
        try { await verifyCertificate(bytes, key, vocab); return "valid"; }
        catch (error) { return error.message; } }"""

    def said(content: bytes) -> str:
        encoded = base64.b64encode(content).decode()
        return str(page.evaluate(check, [encoded, key, VOCAB]))

    assert said(issued.data) == "valid"
    assert said(issued.older) == "valid"
    wrong = [(name, got) for name, tamper in TABLE if (got := said(tamper(issued))) != name]
    assert wrong == [], wrong


def test_export_and_erasure_behind_a_typed_confirmation(page: Page, api: Api) -> None:
    alice, bob = friends(api, "alice", "bob")
    sign_in(page, alice)
    visit(page, "/console/account")
    with page.expect_download() as downloaded:
        page.get_by_role("link", name="Download the export").click()
    archive = json.loads(Path(downloaded.value.path()).read_bytes())
    assert archive["user"]["id"] == alice.id
    assert [c["id"] for c in archive["contacts"]] == [bob.id]
    page.get_by_label("Type your user id to confirm").fill(bob.id)
    page.get_by_role("button", name="Erase my account").click()
    expect(page.locator("#error")).to_have_attribute("data-code", "confirmation_mismatch")
    photographed(page, "account")
    assert api.contacts(bob) == [alice.id]
    page.get_by_label("Type your user id to confirm").fill(alice.id)
    page.get_by_role("button", name="Erase my account").click()
    expect(page.locator("#done")).to_contain_text("erase")
    assert api.call("GET", f"/v1/users/{alice.id}/contacts", alice).status_code == 401
    assert api.contacts(bob) == []


def test_chinese_and_a_narrow_screen(browser: Browser, api: Api, server: Server) -> None:
    (alice,) = api.users("alice")
    context = browser.new_context(
        base_url=server.url, locale="zh-CN", viewport={"width": 360, "height": 740}
    )
    try:
        page = context.new_page()
        visit(page, "/console/sign-in")
        page.get_by_label("令牌").fill("wrong")
        page.get_by_role("button", name="登录").click()
        expect(page.locator("#error")).to_contain_text("令牌无效")
        page.get_by_label("令牌").fill(alice.token)
        page.get_by_role("button", name="登录").click()
        expect(page.get_by_role("link", name="联系人")).to_be_visible()
        for name in PAGES:
            visit(page, f"/console/{name}")
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 360, (name, width)
        # The switch wins over the browser's language, from then on.
        page.get_by_label("语言").select_option("en")
        page.get_by_role("button", name="切换").click()
        expect(page.get_by_role("link", name="Contacts")).to_be_visible()
        expect(page).to_have_url(re.compile(r"/console/account$"))
    finally:
        context.close()


def test_one_users_pages_never_show_another_users_data(page: Page, api: Api) -> None:
    alice, bob = friends(api, "alice", "bob")
    dave, erin = friends(api, "dave", "erin")
    api.message(alice, bob.id, "hello")
    api.ok("POST", f"/v1/users/{alice.id}/mutual-delete-proposals", alice, json={"to": bob.id})
    api.delete(alice, bob.id)
    api.delete(dave, erin.id)
    sign_in(page, dave)
    for name in PAGES:
        visit(page, f"/console/{name}")
        text = page.locator("body").inner_text()
        assert alice.id not in text and bob.id not in text, name
    # No console path names a user: another's page cannot even be asked for.
    asked = page.goto(f"/console/contacts?user={alice.id}")
    assert asked is not None and asked.status == 422
    with page.expect_download() as downloaded:
        visit(page, "/console/account")
        page.get_by_role("link", name="Download the export").click()
    exported = Path(downloaded.value.path()).read_text()
    assert alice.id not in exported and bob.id not in exported


def test_every_page_loads_within_the_bar(page: Page, api: Api) -> None:
    """The first load of each page, measured above, against the bar (the median, so that one
    slow moment of a shared machine does not decide it; each figure is reported)."""
    (alice,) = friends(api, "alice")
    sign_in(page, alice)
    for name in PAGES:
        visit(page, f"/console/{name}")
    console = [ms for path, ms in LOADS.items() if path.startswith("/console/")]
    assert statistics.median(console) <= LOAD_BAR_MS, LOADS


# ---- the operator's console ------------------------------------------------------------------
def operator_sign_in(page: Page, secret: str) -> None:
    visit(page, "/console/admin/sign-in")
    page.get_by_label("Admin key or credential secret").fill(secret)
    page.get_by_role("button", name="Sign in").click()


def test_an_operator_looks_up_a_pair_and_reads_the_logs(page: Page, api: Api) -> None:
    alice, bob = friends(api, "alice", "bob")
    (carol,) = api.users("carol")
    api.message(alice, bob.id, "hello")
    api.delete(alice, bob.id)
    assert api.call("POST", "/v1/admin/log/checkpoint", admin=True).status_code == 200
    # A user's own session opens no operator page.
    sign_in(page, alice)
    visit(page, "/console/admin/pair")
    expect(page).to_have_url(re.compile(r"/console/admin/sign-in$"))
    operator_sign_in(page, alice.token)
    expect(page.locator("#error")).to_have_attribute("data-code", "unauthenticated")
    operator_sign_in(page, ADMIN_KEY)
    expect(page.locator("#current-user")).to_have_text("admin")
    page.get_by_label("User A").fill(alice.id)
    page.get_by_label("User B").fill(bob.id)
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#relation")).to_have_text("b_has_a")
    expect(page.locator("#history")).to_have_text("active")
    expect(page.locator("#key-present")).to_have_text("yes")
    checked(page)
    photographed(page, "admin-pair")
    visit(page, f"/console/admin/audit?user={carol.id}")
    expect(page.locator("main")).to_contain_text("Nothing here yet")  # carol did nothing
    visit(page, f"/console/admin/audit?user={alice.id}&action=edge_removed")
    rows = page.locator("#audit tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(bob.id)
    photographed(page, "admin-audit")
    visit(page, "/console/admin/audit")  # unfiltered: the newest entries first
    seqs = [int(s) for s in page.locator("#audit tbody tr td:first-child").all_inner_texts()]
    assert len(seqs) > 1 and seqs == sorted(seqs, reverse=True), seqs
    visit(page, "/console/admin/log")
    expect(page.locator("#checkpoint")).to_contain_text(str(page.locator("#log-size").inner_text()))
    photographed(page, "admin-log")
    page.set_viewport_size({"width": 360, "height": 740})
    for name in ("pair", "audit", "backlog", "webhooks", "metrics", "log"):
        visit(page, f"/console/admin/{name}")
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 360, (name, width)
    page.get_by_role("button", name="Sign out").click()
    visit(page, "/console/admin/log")
    expect(page).to_have_url(re.compile(r"/console/admin/sign-in$"))


def test_an_operator_credential_needs_admin_read_and_ends_when_revoked(
    page: Page, api: Api
) -> None:
    def credential(scope: str) -> dict[str, str]:
        body = {"name": f"console {scope}", "scopes": [scope]}
        made: dict[str, str] = api.ok("POST", "/v1/admin/credentials", admin=True, json=body)
        return made

    acting = credential("users:act")
    operator_sign_in(page, acting["secret"])
    expect(page.locator("#error")).to_have_attribute("data-code", "scope_required")
    reader = credential("admin:read")
    operator_sign_in(page, reader["secret"])
    expect(page.locator("#current-user")).to_have_text(reader["id"])
    (session,) = [c for c in page.context.cookies() if c["name"] == "hushan_operator"]
    assert reader["secret"] not in session["value"] and ADMIN_KEY not in session["value"]
    api.ok("DELETE", f"/v1/admin/credentials/{reader['id']}", admin=True)
    visit(page, "/console/admin/pair")
    expect(page).to_have_url(re.compile(r"/console/admin/sign-in$"))


def test_an_operator_sees_the_backlog_holds_counters_and_webhooks(page: Page, api: Api) -> None:
    alice, bob, carol = friends(api, "alice", "bob", "carol")
    for one, other in ((alice, bob), (bob, alice)):
        api.delete(one, other.id)
    hold = {"user": alice.id, "other": carol.id, "reason": "court order", "case_ref": "C-16"}
    api.ok("POST", "/v1/admin/holds", admin=True, json=hold)
    api.advance(31 * 86400)  # alice and bob's history is due, and no sweep has run
    operator_sign_in(page, ADMIN_KEY)
    visit(page, "/console/admin/backlog")
    assert int(page.locator("#keys-due").inner_text()) >= 1
    expect(page.locator("#holds tbody tr").filter(has_text=alice.id)).to_contain_text("C-16")
    photographed(page, "admin-backlog")
    visit(page, "/console/admin/metrics")  # the same figure, as /metrics counts it
    due = page.locator("#metrics tbody tr").filter(has_text="hushan_purge_backlog")
    expect(due.filter(has_text="stage=key")).to_have_count(1)
    photographed(page, "admin-metrics")
    api.sweep()
    visit(page, "/console/admin/backlog")
    expect(page.locator("#keys-due")).to_have_text("0")
    # The newest of the sweep's last runs is that one, which destroyed alice and bob's key
    # (and those of any other pair of the module's server that came due with the clock).
    newest = page.locator("#sweeps tbody tr").first
    expect(newest).to_contain_text(re.compile(r"keys_destroyed [1-9]"))
    body = {"url": "http://127.0.0.1:9/console-test", "event_types": ["request.sent"]}
    endpoint = api.ok("POST", "/v1/admin/webhooks/endpoints", admin=True, json=body)
    visit(page, "/console/admin/webhooks")
    row = page.locator("#endpoints tbody tr").filter(has_text=endpoint["id"])
    expect(row).to_contain_text("http://127.0.0.1:9/console-test")
    photographed(page, "admin-webhooks")
    page.get_by_label("State").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"/console/admin/webhooks\?state=failed$"))
    checked(page)


def test_pages_forbid_framing_and_inline_scripts_and_files_are_versioned(server: Server) -> None:
    page = httpx.get(f"{server.url}/console/sign-in")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["cache-control"] == "no-store"
    css = re.search(r'href="(/console/static/console\.css\?v=[0-9a-f]{12})"', page.text)
    assert css is not None
    served = httpx.get(server.url + css.group(1))
    assert served.status_code == 200 and served.headers["content-type"].startswith("text/css")
    assert "immutable" in served.headers["cache-control"]
    assert httpx.get(f"{server.url}/console/static/axe.min.js").status_code == 404


# ---- bulk-loaded contacts: progressive cleanup, and a list longer than a page -------------
def imported_friends(server: Server, owner: User, count: int) -> list[str]:
    """`count` new contacts of `owner`, friends both ways, bulk-loaded by `hushan import`."""
    others = [f"{owner.id}-c{n:03d}" for n in range(count)]
    lines = [f"{a},{b}" for other in others for a, b in ((owner.id, other), (other, owner.id))]
    server.import_edges(f"{owner.id}.csv", lines, "--no-events")
    return others


def test_a_cleanup_in_batches_and_its_undo(page: Page, api: Api, server: Server) -> None:
    started = time.monotonic()
    (alice,) = api.users("alice")
    others = imported_friends(server, alice, 200)
    api.message(alice, others[0], "still talking")  # not a never-messaged candidate
    api.block(alice, others[1])  # its removal is a block-then-delete: gone for good
    # others[3] has removed alice without telling her: nothing on the page may show it.
    minted = api.ok("POST", f"/v1/users/{others[3]}/tokens", admin=True, json={})
    api.delete(User(others[3], minted["token"]), alice.id)
    sign_in(page, alice)
    visit(page, "/console/cleanup")
    refused = page.goto("/console/cleanup?months=0")
    assert refused is not None and refused.status == 422
    expect(page.locator("#error")).to_have_attribute("data-code", "invalid_input")
    page.get_by_label("Never messaged").check()
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("#candidates tbody tr")
    expect(rows).to_have_count(100)  # 199 candidates, a page of 100
    expect(page.locator(f'tr[data-contact="{others[0]}"]')).to_have_count(0)
    page.get_by_role("link", name="Select all on this page").click()
    expect(page.locator("#candidates input:checked")).to_have_count(100)
    expect(page.get_by_label(f"Select: {others[2]}")).to_be_checked()  # each box labelled
    page.get_by_role("button", name="Preview the removal").click()
    expect(page.locator("#preview tbody tr")).to_have_count(100)
    checked(page)
    partings = page.locator("#preview .parting").evaluate_all(
        "(cells) => cells.map((cell) => cell.dataset.parting)"
    )
    assert sorted(set(partings)) == ["block_delete", "one_way"]
    blocked = page.locator(f'#preview tr[data-contact="{others[1]}"]')
    expect(blocked.locator(".restorable")).to_have_text("never")
    one = page.locator(f'#preview tr[data-contact="{others[2]}"]')
    expect(one.locator(".restorable")).to_contain_text("adding them again")
    expect(one.locator(".told")).to_have_text("nothing (silent)")
    silent, unaware = (page.locator(f'#preview tr[data-contact="{o}"]') for o in others[3:5])
    assert silent.inner_text().replace(others[3], "") == unaware.inner_text().replace(others[4], "")
    photographed(page, "cleanup-preview")
    sent: list[str] = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    page.get_by_role("button", name=re.compile("Remove the contacts")).focus()
    page.keyboard.press("Enter")  # by keyboard
    expect(page.locator("#cleanup-done")).to_be_visible()
    assert sum(url.endswith("/console/cleanup/apply") for url in sent) == 3  # 40, 40, 20
    progress = page.locator("#cleanup-progress")
    expect(progress).to_have_attribute("value", "100")
    expect(progress).to_have_attribute("max", "100")
    expect(page.locator("#cleanup-removed")).to_have_text("100")
    checked(page)
    page.reload()  # sends the last batch's form again: the same answer, nothing removed twice
    expect(page.locator("#cleanup-done")).to_be_visible()
    assert sum(url.endswith("/console/cleanup/apply") for url in sent) == 4
    expect(page.locator("#cleanup-removed")).to_have_text("100")  # not 80 + 0
    removed = [o for o in sorted(others[1:]) if o != others[0]][:100]
    kept = api.relations([(alice.id, o) for o in others if o not in removed])
    assert {r["relation"] for r in kept} == {"both_way"}  # the other 100 are still there
    one_way = [o for o in removed if o not in (others[1], others[3])]
    relations = api.relations([(alice.id, o) for o in one_way])
    assert {r["relation"] for r in relations} == {"b_has_a"}  # one-way: they keep alice
    assert api.relation(alice.id, others[3]) == "none"  # mutual in fact, never said so
    # Undo each batch through the page, newest first.
    visit(page, "/console/cleanup")
    photographed(page, "cleanup")
    undos = page.locator("#batches button", has_text="Undo")
    expect(undos).to_have_count(3)  # the reload recorded no fourth, empty batch
    outcomes: list[str] = []
    for _ in range(3):
        page.locator("#batches button", has_text="Undo").first.click()
        expect(page.locator("#undone tbody tr").first).to_be_visible()
        checked(page)
        outcomes += page.locator("#undone .outcome").evaluate_all(
            "(cells) => cells.map((cell) => cell.dataset.outcome)"
        )
        page.get_by_role("link", name="Back to cleanup").click()
    assert outcomes.count("restored") == 99 and outcomes.count("not_restorable") == 1
    back = api.relations([(alice.id, o) for o in one_way])
    assert {r["relation"] for r in back} == {"both_way"}  # every one-way removal undone
    assert api.relation(alice.id, others[3]) == "a_has_b"  # her side back, as for the others
    assert api.relation(alice.id, others[1]) == "b_has_a"  # erased with the history
    expect(page.locator("#batches button", has_text="Undo")).to_have_count(0)
    # A batch whose window has closed offers no undo, and says what to do instead.
    body = {"contacts": [others[150]]}
    late = api.ok("POST", f"/v1/users/{alice.id}/cleanup/batches", alice, json=body)
    api.advance(601)
    visit(page, "/console/cleanup")
    row = page.locator(f'#batches tr[data-batch="{late["id"]}"]')
    expect(row).to_contain_text("The undo window has closed")
    expect(row.get_by_role("button")).to_have_count(0)
    print(f"\ncleanup browser test: {time.monotonic() - started:.1f} s")


def test_contacts_past_a_page_are_reached_by_its_link(page: Page, api: Api, server: Server) -> None:
    (owner,) = api.users("pager")
    others = imported_friends(server, owner, 501)  # a page holds 500
    sign_in(page, owner)
    rows = page.locator("#contacts tbody tr")
    expect(rows).to_have_count(500)
    expect(page.locator("#first-page")).to_have_count(0)
    page.get_by_role("link", name="Next page").click()
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(others[-1])
    expect(page.locator("#next-page")).to_have_count(0)
    page.get_by_role("link", name="First page").click()
    expect(rows).to_have_count(500)
    expect(rows.first).to_contain_text(others[0])

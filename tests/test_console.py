"""The console's parts that need no browser: its languages, its anti-forgery tokens, operator
sessions and login links (the pages themselves: tests/test_console_browser.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from starlette.requests import Request

from hushan.console import i18n
from hushan.console.cleanup import _wanted
from hushan.console.links import login_link
from hushan.console.session import NONCE, Forms, OperatorSessions
from hushan.domain.cleanup import CandidateFilter
from hushan.domain.errors import CsrfTokenInvalid, InvalidInput, InvalidTag, all_error_classes

TEMPLATES = Path(__file__).resolve().parent.parent / "src" / "hushan" / "console" / "templates"


@pytest.mark.parametrize(
    ("cookie", "accept", "chosen"),
    [
        (None, None, "en"),
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        (None, "fr-FR, en-GB;q=0.8", "en"),
        (None, "fr-FR", "en"),
        ("en", "zh-CN", "en"),  # the switch wins over the browser
        ("zh", None, "zh"),
        ("de", "zh-TW", "zh"),  # a cookie the console does not speak is ignored
    ],
)
def test_the_language_is_the_switch_then_the_browser_then_english(
    cookie: str | None, accept: str | None, chosen: str
) -> None:
    assert i18n.choose(cookie, accept) == chosen


def test_every_word_a_template_asks_for_is_there_in_both_languages() -> None:
    asked = {
        key
        for page in TEMPLATES.glob("*.html")
        for key in re.findall(r"\bt\('([a-z_]+)'\)", page.read_text())
    }
    assert asked and asked <= set(i18n.WORDS), asked - set(i18n.WORDS)
    for english, chinese in [*i18n.WORDS.values(), *i18n.ERRORS.values()]:
        assert english.strip() and chinese.strip()
        assert re.search("[\u4e00-\u9fff]", chinese), chinese


def test_error_messages_are_of_real_codes_and_fall_back_to_the_engines() -> None:
    codes = {cls.code for cls in all_error_classes()} | {"invalid_text"}
    assert set(i18n.ERRORS) <= codes, set(i18n.ERRORS) - codes
    assert i18n.error_text("recipient_removed_you", "x", "zh").startswith("对方开启了朋友验证")
    assert i18n.error_text("unauthenticated", "x", "en").startswith("That token is not valid")
    assert i18n.error_text("group_full", "The group is full.", "zh") == "The group is full."


def test_the_cleanup_filters_are_the_apis_and_an_empty_field_is_any() -> None:
    assert _wanted("", False, "", False) == CandidateFilter()
    assert _wanted("120", True, "family", True) == CandidateFilter(120, True, "family", True)
    for months in ("0", "121", "1.5", "-1", "x"):
        with pytest.raises(InvalidInput):
            _wanted(months, False, "", False)
    with pytest.raises(InvalidTag):
        _wanted("", False, "bad\ttag", False)


def _request(cookies: dict[str, str], origin: str | None, host: str = "console.example") -> Request:
    headers = [(b"host", host.encode())]
    if cookies:
        cookie = "; ".join(f"{k}={v}" for k, v in cookies.items())
        headers.append((b"cookie", cookie.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return Request({"type": "http", "method": "POST", "path": "/console/x", "headers": headers})


def test_a_form_token_is_the_nonces_under_this_deployments_key() -> None:
    forms = Forms("admin-key")
    token = forms.token("nonce")
    forms.check(_request({NONCE: "nonce"}, "https://console.example"), token)
    forms.check(_request({NONCE: "nonce"}, None), token)  # an old browser sends no Origin
    refused = [
        (_request({NONCE: "nonce"}, "https://console.example"), None),
        (_request({NONCE: "nonce"}, "https://console.example"), token[:-1] + "0"),
        (_request({NONCE: "other"}, "https://console.example"), token),
        (_request({}, "https://console.example"), token),
        (_request({NONCE: "nonce"}, "https://evil.example"), token),
        (_request({NONCE: "nonce"}, "null"), token),
        (_request({NONCE: "nonce"}, "https://console.example"), Forms("other").token("nonce")),
    ]
    for request, sent in refused:
        with pytest.raises(CsrfTokenInvalid):
            forms.check(request, sent)


def test_an_operator_session_is_read_only_as_signed_and_until_it_ends() -> None:
    sessions = OperatorSessions("admin-key")
    made = sessions.make("c_0123456789abcdef", 1000)
    assert sessions.read(made, 999) == "c_0123456789abcdef"
    assert sessions.read(made, 1000) is None  # ended
    principal, expires, mac = made.rsplit(".", 2)
    assert sessions.read(f"admin.{expires}.{mac}", 0) is None  # another principal
    assert sessions.read(f"{principal}.2000.{mac}", 0) is None  # a later end
    assert OperatorSessions("new-key").read(made, 0) is None  # the admin key changed
    for broken in (None, "", "admin", "admin.x.y", f"{principal}..{mac}"):
        assert sessions.read(broken, 0) is None


def test_a_login_link_keeps_its_token_in_the_fragment() -> None:
    assert login_link("https://chat.example/", "a-b_c") == "https://chat.example/console/link#a-b_c"
    assert login_link("http://h:8000", "x/y+z") == "http://h:8000/console/link#x%2Fy%2Bz"


def test_the_browser_tests_fail_without_the_browser(tmp_path: Path) -> None:
    """A missing browser is a failure of the run, never a skip (scripts/ensure-chromium)."""
    env = {**os.environ, "HUSHAN_TEST_CHROMIUM": str(tmp_path / "no-chromium")}
    ran = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_console_browser.py", "-n", "0", "--noconftest"]
        + ["-k", "wrong_token", "-q", "-rA", "--basetemp", str(tmp_path / "run")],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert "no-chromium is missing: run scripts/ensure-chromium" in ran.stdout
    assert "skipped" not in ran.stdout.splitlines()[-1]

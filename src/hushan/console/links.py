"""Login links: a short-lived user token in the fragment of /console/link, where it never
reaches a server's access log nor a Referer header; the page posts it to the sign-in form,
which exchanges it for a session and revokes it (hushan.console.pages)."""

from urllib.parse import quote

LINK_PATH = "/console/link"


def login_link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{LINK_PATH}#{quote(token, safe='')}"

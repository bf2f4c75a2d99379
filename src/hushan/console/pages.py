"""The console's pages: server-rendered HTML under /console/, over the same engine calls and the
same authorization as the API (docs/console.md).

A page belongs to the user of the session's token and to nobody else: no console path names a
user, so there is no other user's page to ask for. Every form POST carries the anti-forgery
token (hushan.console.session). Engine calls run on the engine pool, as the API's do.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Query
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from hushan.api import schemas as s
from hushan.api import shapes
from hushan.api.context import Context
from hushan.api.erasing import erase
from hushan.api.errors import status_for
from hushan.console import assets, i18n, verifier_vocab
from hushan.console.cleanup import CleanupPage
from hushan.console.operator import Operator, UserQuery
from hushan.console.session import (
    CSRF_FIELD,
    LANG,
    NONCE,
    PATH,
    SESSION,
    Forms,
    clear_cookie,
    new_nonce,
    set_cookie,
)
from hushan.domain import errors as e
from hushan.domain.credentials import MIN_TOKEN_TTL, TokenInfo
from hushan.domain.rules import check_user_id
from hushan.tlog.certificate import LegalBasis

SESSION_HOURS = 12  # a session's token lives this long, or as long as the token signed in with
PAGE_ROWS = 500  # the most rows a page lists; a link leads to the next ones
PAGED = ("contacts", "notices", "cleanup")  # pages with a query of their own
SECURITY_HEADERS = {
    # Scripts and styles come from the package only; no page may be framed.
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self';"
    " img-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self';"
    " frame-ancestors 'none'",
    "referrer-policy": "same-origin",  # a form POST keeps its Origin (no-referrer sends "null")
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
}

Form = dict[str, str]
Values = dict[str, Any]
T = TypeVar("T")


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


TEMPLATES = Environment(
    loader=PackageLoader("hushan.console", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["when"] = _when


class UserError(Exception):
    """An error to show on a page, with its HTTP status."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code)
        self.code, self.message, self.status = code, message, status


def _page(name: str, found: Sequence[T], cursor: Callable[[T], object], paged: bool) -> Values:
    """A page's rows from a read of PAGE_ROWS + 1, and the cursor of the next page if that
    one more row came (`following`), for `_table.html`'s pager."""
    following = cursor(found[PAGE_ROWS - 1]) if len(found) > PAGE_ROWS else None
    return {name: found[:PAGE_ROWS], "following": following, "paged": paged}


def _user_error(error: e.HushanError) -> UserError:
    return UserError(error.code, error.message, status_for(error))


def _validated(model: type[BaseModel], values: dict[str, Any]) -> Any:
    """The form checked by the API's own schema: the same codes for the same mistakes."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        code = first["type"] if first["type"] in ("invalid_user_id", "invalid_text") else ""
        raise UserError(code or "invalid_request", str(first["msg"]), 422) from None


def install(app: FastAPI, ctx: Context, admin_key: str) -> None:
    """Serve the console under /console/: its pages, the operator's, and its static files."""
    for name in TEMPLATES.list_templates():  # compiled now, not in a user's first request
        TEMPLATES.get_template(name)
    files = assets.load()
    app.include_router(assets.router(files))
    console = Console(ctx, Forms(admin_key), files)
    app.include_router(Operator(console, admin_key).router())
    app.include_router(console.cleanup.router())
    app.include_router(console.router())


class Console:
    def __init__(self, ctx: Context, forms: Forms, files: dict[str, assets.Asset]) -> None:
        self.ctx, self.forms, self.files = ctx, forms, files
        self.engine, self.run = ctx.engine, ctx.pool.run
        self.cleanup = CleanupPage(self)

    failure = staticmethod(_user_error)

    # ---- rendering --------------------------------------------------------------------------
    def render(
        self,
        request: Request,
        template: str,
        status: int = 200,
        user: str | None = None,
        error: UserError | None = None,
        **values: Any,
    ) -> HTMLResponse:
        lang = i18n.choose(request.cookies.get(LANG), request.headers.get("accept-language"))
        nonce = request.cookies.get(NONCE) or new_nonce()
        message = None if error is None else i18n.error_text(error.code, error.message, lang)
        values.setdefault("operator", None)  # who signed in to the operator's pages, if anyone
        html = TEMPLATES.get_template(template).render(
            lang=lang,
            t=lambda key: i18n.word(key, lang),
            csrf=self.forms.token(nonce),
            csrf_field=CSRF_FIELD,
            user=user,
            here=request.url.path,
            asset=lambda name: assets.url(self.files, name),
            error=message,
            error_code=None if error is None else error.code,
            **values,
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if NONCE not in request.cookies:
            set_cookie(request, response, NONCE, nonce)
        return response

    async def session(self, request: Request) -> TokenInfo | None:
        token = request.cookies.get(SESSION)
        if not token:
            return None
        try:
            return await self.run(self.engine.authenticate_token, token)
        except e.Unauthenticated:
            return None

    async def form(self, request: Request) -> Form:
        """The form's fields, once its anti-forgery token is checked."""
        body = (await request.body()).decode("utf-8", errors="replace")
        fields = dict(parse_qsl(body, keep_blank_values=True))
        self.forms.check(request, fields.get(CSRF_FIELD))
        return fields

    # ---- the pages --------------------------------------------------------------------------
    async def contacts(self, user: str, after: str = "") -> Values:
        found = await self.run(self.engine.labelled_contacts, user, after, PAGE_ROWS + 1)
        return _page("contacts", found, lambda c: c.contact.user_id, bool(after))

    async def notices(self, user: str, after: int = 0) -> Values:
        found = await self.run(self.engine.notices, user, after, PAGE_ROWS + 1)
        return _page("notices", found, lambda n: n.id, after > 0)

    async def proposals(self, user: str) -> Values:
        incoming = await self.run(self.engine.list_proposals, user, True, 0, PAGE_ROWS)
        outgoing = await self.run(self.engine.list_proposals, user, False, 0, PAGE_ROWS)
        return {"incoming": incoming, "outgoing": outgoing}

    async def residue(self, user: str) -> Values:
        histories = await self.run(self.engine.data_residue, user)
        devices = await self.run(self.engine.devices, user)
        return {"histories": histories, "device_names": {d.id: d.name for d in devices}}

    async def certificates(self, user: str) -> Values:
        return {
            "log_key": str(self.engine.log.signer.verifier),
            "legal_bases": [b.value for b in LegalBasis],
            "vocab": verifier_vocab.VOCAB,
        }

    async def account(self, user: str) -> Values:
        return {}

    def pages(self) -> dict[str, Callable[[str], Awaitable[Values]]]:
        return {
            "contacts": self.contacts,
            "notices": self.notices,
            "proposals": self.proposals,
            "residue": self.residue,
            "certificates": self.certificates,
            "account": self.account,
            "cleanup": self.cleanup.default_listing,  # its filters: CleanupPage's own route
        }

    async def page(
        self,
        request: Request,
        name: str,
        error: UserError | None = None,
        values_of: Callable[[str], Awaitable[Values]] | None = None,
    ) -> Response:
        """The page `name` of the session's user, its values from `values_of` if given."""
        info = await self.session(request)
        if info is None:
            return RedirectResponse(f"{PATH}/sign-in", 303)
        try:
            values = await (values_of or self.pages()[name])(info.user_id)
        except e.HushanError as failed:
            values, error = {}, _user_error(failed)
        status = 200 if error is None else error.status
        return self.render(
            request, f"{name}.html", status, info.user_id, error, page=name, **values
        )

    async def act(
        self,
        request: Request,
        back: str,
        do: Callable[[str, Form], Awaitable[Response | None]],
    ) -> Response:
        """A form POST of a signed-in page: its check, then `do`, then the page `back` again
        (with the error, if `do` raised one)."""
        try:
            fields = await self.form(request)
        except e.CsrfTokenInvalid as forged:
            return await self.page(request, back, _user_error(forged))
        info = await self.session(request)
        if info is None:
            return RedirectResponse(f"{PATH}/sign-in", 303)
        try:
            done = await do(info.user_id, fields)
        except e.HushanError as failed:
            return await self.page(request, back, _user_error(failed))
        except UserError as failed:
            return await self.page(request, back, failed)
        return done or RedirectResponse(f"{PATH}/{back}", 303)

    # ---- signing in and out -----------------------------------------------------------------
    async def sign_in(self, request: Request) -> Response:
        try:
            fields = await self.form(request)
            info = await self.run(self.engine.authenticate_token, fields.get("token", "").strip())
        except e.HushanError as failed:
            status = 401 if isinstance(failed, e.Unauthenticated) else status_for(failed)
            return self.render(request, "sign_in.html", status, error=_user_error(failed))
        now = self.engine.clock.now()
        # No longer than the token signed in with, nor the deployment's token lifetime; a
        # minute at least, the shortest token there is.
        ttl = min(timedelta(hours=SESSION_HOURS), self.engine.limits.token_ttl)
        if info.expires_at is not None:
            ttl = max(MIN_TOKEN_TTL, min(ttl, info.expires_at - now))
        token, _ = await self.run(self.engine.mint_token, info.user_id, ttl, None)
        if fields.get("link") == "1":  # a login link signs in once
            await self.run(self.engine.revoke_token, info.user_id, info.id)
        response = RedirectResponse(f"{PATH}/contacts", 303)
        set_cookie(request, response, SESSION, token)
        set_cookie(request, response, NONCE, new_nonce())  # a new session, new form tokens
        return response

    async def sign_out(self, request: Request) -> Response:
        try:
            await self.form(request)
        except e.CsrfTokenInvalid as forged:
            return await self.page(request, "contacts", _user_error(forged))
        info = await self.session(request)
        if info is not None:
            await self.run(self.engine.revoke_token, info.user_id, info.id)
        response = self.render(request, "signed_out.html", message="signed_out")
        clear_cookie(request, response, SESSION)
        return response

    async def language(self, request: Request) -> Response:
        try:
            fields = await self.form(request)
        except e.CsrfTokenInvalid as forged:
            return self.render(request, "sign_in.html", 403, error=_user_error(forged))
        back = fields.get("next", "")
        if not back.startswith(f"{PATH}/") or back.startswith(f"{PATH}//"):
            back = f"{PATH}/"
        response = RedirectResponse(back, 303)
        if fields.get("lang") in i18n.LANGUAGES:
            set_cookie(request, response, LANG, fields["lang"])
        return response

    # ---- the pages' actions -----------------------------------------------------------------
    async def propose(self, user: str, fields: Form) -> None:
        body = _validated(
            s.ProposeMutualDelete,
            {
                "to": fields.get("to", "").strip(),
                "message": fields.get("message", ""),
                "remove_anyway": fields.get("remove_anyway") == "on",
            },
        )
        await self.run(
            self.engine.propose_mutual_delete, user, body.to, body.message, body.remove_anyway
        )

    def answer(self, verb: str) -> Callable[[str, Form], Awaitable[None]]:
        async def answered(user: str, fields: Form) -> None:
            other = check_user_id(fields.get("other", ""))
            call = {
                "accept": self.engine.accept_mutual_delete,
                "decline": self.engine.decline_mutual_delete,
                "withdraw": self.engine.withdraw_mutual_delete,
            }[verb]
            await self.run(call, user, other)

        return answered

    async def mark_read(self, user: str, fields: Form) -> None:
        up_to = fields.get("up_to", "")
        if up_to.isdecimal():
            await self.run(self.engine.mark_notices_read, user, int(up_to))

    async def certificate(self, user: str, fields: Form) -> Response:
        asked = _validated(
            s.CertificateRequest,
            {
                "other": fields.get("other", "").strip(),
                "legal_basis": fields.get("legal_basis", LegalBasis.USER_REQUEST.value),
                "disclose": fields.get("disclose") == "on",
            },
        )
        issued = await self.run(
            self.engine.log.certificate, user, asked.other, asked.legal_basis, asked.disclose, None
        )
        name = f"certificate-{user}-{asked.other}.json"
        return Response(
            issued,
            media_type="application/json",
            headers={**SECURITY_HEADERS, "content-disposition": f'attachment; filename="{name}"'},
        )

    async def export(self, request: Request) -> Response:
        info = await self.session(request)
        if info is None:
            return RedirectResponse(f"{PATH}/sign-in", 303)
        exported = await self.run(self.engine.export_account, info.user_id)
        archive = shapes.export_json(exported, self.engine.limits.notice_minimum)
        name = f"hushan-export-{info.user_id}.json"
        return Response(
            to_json(archive, indent=2),
            media_type="application/json",
            headers={**SECURITY_HEADERS, "content-disposition": f'attachment; filename="{name}"'},
        )

    async def erase(self, request: Request) -> Response:
        async def erased(user: str, fields: Form) -> Response:
            if fields.get("confirm", "").strip() != user:
                raise e.ConfirmationMismatch()
            done = await erase(self.ctx, user)
            response = self.render(
                request, "signed_out.html", message="erased" if done else "erasing"
            )
            clear_cookie(request, response, SESSION)
            return response

        return await self.act(request, "account", erased)

    # ---- the routes -------------------------------------------------------------------------
    def router(self) -> APIRouter:
        api = APIRouter(include_in_schema=False)

        @api.get(PATH)
        @api.get(f"{PATH}/")
        async def home(request: Request) -> Response:
            target = "contacts" if await self.session(request) else "sign-in"
            return RedirectResponse(f"{PATH}/{target}", 303)

        @api.get(f"{PATH}/sign-in")
        async def sign_in_page(request: Request) -> Response:
            return self.render(request, "sign_in.html")

        @api.get(f"{PATH}/link")
        async def link_page(request: Request) -> Response:
            return self.render(request, "link.html")

        api.add_api_route(f"{PATH}/sign-in", self.sign_in, methods=["POST"])
        api.add_api_route(f"{PATH}/sign-out", self.sign_out, methods=["POST"])
        api.add_api_route(f"{PATH}/language", self.language, methods=["POST"])
        api.add_api_route(f"{PATH}/account/export", self.export, methods=["GET"])
        api.add_api_route(f"{PATH}/account/erase", self.erase, methods=["POST"])

        @api.get(f"{PATH}/contacts")
        async def contacts(request: Request, after: UserQuery = "") -> Response:
            return await self.page(request, "contacts", None, lambda u: self.contacts(u, after))

        @api.get(f"{PATH}/notices")
        async def notices(
            request: Request, after: Annotated[int, Query(ge=0, le=2**62)] = 0
        ) -> Response:
            return await self.page(request, "notices", None, lambda u: self.notices(u, after))

        for name in self.pages():
            if name in PAGED:  # routed with their queries: above, and by CleanupPage
                continue
            api.add_api_route(f"{PATH}/{name}", self._shown(name), methods=["GET"])

        actions: dict[str, tuple[str, Callable[[str, Form], Awaitable[Response | None]]]] = {
            "proposals/propose": ("proposals", self.propose),
            "proposals/accept": ("proposals", self.answer("accept")),
            "proposals/decline": ("proposals", self.answer("decline")),
            "proposals/withdraw": ("proposals", self.answer("withdraw")),
            "notices/read": ("notices", self.mark_read),
            "certificates/request": ("certificates", self.certificate),
        }
        for path, (back, do) in actions.items():
            api.add_api_route(f"{PATH}/{path}", self._acted(back, do), methods=["POST"])
        return api

    def _shown(self, name: str) -> Callable[[Request], Awaitable[Response]]:
        async def shown(request: Request) -> Response:
            return await self.page(request, name)

        return shown

    def _acted(
        self, back: str, do: Callable[[str, Form], Awaitable[Response | None]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def acted(request: Request) -> Response:
            return await self.act(request, back, do)

        return acted

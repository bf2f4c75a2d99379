"""The `hushan` command: a thin skin over the same service functions the API calls."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hushan import importer, logs
from hushan.bootstrap import admin_key, build
from hushan.cli_base import (
    EXIT_DOMAIN_ERROR,
    DbOption,
    console,
    engine_for,
    fail,
    key_files,
    settings_for,
)
from hushan.cli_holds import holds_app
from hushan.cli_miniprograms import miniprograms_app
from hushan.cli_orgs import orgs_app
from hushan.cli_webhooks import platforms_app, webhooks_app
from hushan.clock import OffsetClock, iso_utc
from hushan.domain.credentials import Scope
from hushan.domain.errors import HushanError, LogEmpty
from hushan.orphan import when_orphaned
from hushan.tlog.certificate import LegalBasis

app = typer.Typer(
    help="hushan (互删): friend relationships with one-way, mutual and block-then-delete.",
    no_args_is_help=True,
    add_completion=False,
)
user_app = typer.Typer(help="Manage users.", no_args_is_help=True)
app.add_typer(user_app, name="user")
log_app = typer.Typer(help="The transparency log: key, checkpoints, export.", no_args_is_help=True)
app.add_typer(log_app, name="log")
credentials_app = typer.Typer(
    help="Service credentials: create, list, rotate, revoke.", no_args_is_help=True
)
app.add_typer(credentials_app, name="credentials")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(platforms_app, name="platforms")
app.add_typer(holds_app, name="hold")
witness_app = typer.Typer(
    help="A witness that cosigns a log's checkpoints (run by someone else).", no_args_is_help=True
)
app.add_typer(witness_app, name="witness")
app.add_typer(miniprograms_app, name="miniprograms")
app.add_typer(orgs_app, name="orgs")
SHUTDOWN_GRACE_SECONDS = 5
WORKER_RESTART_SECONDS = 1  # before serve starts its worker again, should it die


@app.command()
def serve(
    db: DbOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    test_clock: Annotated[
        bool, typer.Option("--test-clock", help="Let the admin move time forward (tests only).")
    ] = False,
    no_sweep: Annotated[
        bool,
        typer.Option(
            "--no-sweep",
            help="Start no worker: you run `hushan worker` yourself. Erasures then run in"
            " the API process, unless HUSHAN_ERASURES_IN_WORKER=true.",
        ),
    ] = False,
    workers: Annotated[int, typer.Option(help="API processes to run.", min=1)] = 1,
) -> None:
    """Run the HTTP API, and a `hushan worker` beside it for sweeps, log checkpoints and
    erasure jobs."""
    import uvicorn

    from hushan.api.app import create_app
    from hushan.api.observe import metrics_directory

    settings = settings_for(db, test_clock=True if test_clock else None)
    if settings.erasures_in_worker is None:
        # Erasure jobs go to the worker started here; with none, the API keeps doing them.
        settings = settings.model_copy(update={"erasures_in_worker": not no_sweep})
    if workers > 1 and settings.test_clock:
        # Each process would keep its own offset: the processes would disagree on the time.
        console.print("[red]error[/red] usage: the test clock needs a single API process")
        raise typer.Exit(EXIT_DOMAIN_ERROR)
    clock = OffsetClock() if settings.test_clock else None
    with key_files():
        engine = build(settings, clock)  # migrations and key files, once, before any process
        key = admin_key(settings)
    source = "HUSHAN_ADMIN_KEY" if settings.admin_key else str(settings.resolved_admin_key_file())
    console.print(f"hushan on http://{host}:{port}  database {settings.database_label}")
    console.print(f"admin key: {source}   OpenAPI: /openapi.json")
    if clock:
        console.print("[yellow]test clock enabled[/yellow]: POST /v1/admin/clock/advance")
    logs.configure(settings.log_format)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": "warning",
        "log_config": None,  # uvicorn's own lines go through hushan.logs too
        "access_log": False,  # hushan.api.observe writes them, with the request id
        # Event streams and long-polls never end on their own: a stop gives them this long.
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,
    }
    with (
        contextlib.nullcontext() if no_sweep else _worker_beside(settings.database_url),
        metrics_directory(workers),
    ):
        if workers == 1:
            uvicorn.run(create_app(engine, key, clock, settings), **options)
        else:
            engine.store.close()
            # Each process builds its own engine from the same settings (the environment).
            os.environ["HUSHAN_DATABASE_URL"] = settings.database_url
            os.environ["HUSHAN_SERVE_PID"] = str(os.getpid())
            os.environ["HUSHAN_ERASURES_IN_WORKER"] = str(settings.erasures_in_worker).lower()
            factory = "hushan.api.app:from_environment"
            uvicorn.run(factory, factory=True, workers=workers, **options)


@contextmanager
def _worker_beside(database_url: str) -> Iterator[None]:
    """A `hushan worker` child for the background work: its hashing, purging and erasure jobs
    then run on another core, not between this process's requests. One that dies is started
    again (erasures wait for it). It exits when this process does, even after a SIGKILL (it
    watches its parent)."""
    import subprocess
    import sys
    import threading

    argv = [sys.executable, "-m", "hushan.cli", "worker", "--parent", str(os.getpid())]
    env = {**os.environ, "HUSHAN_DATABASE_URL": database_url}
    stopping, lock = threading.Event(), threading.Lock()
    child = subprocess.Popen(argv, env=env)

    def supervise() -> None:
        nonlocal child
        while True:
            code = child.wait()
            if stopping.wait(WORKER_RESTART_SECONDS):
                return
            with lock:
                if stopping.is_set():
                    return
                console.print(f"[yellow]worker exited ({code}); starting another[/yellow]")
                child = subprocess.Popen(argv, env=env)

    watcher = threading.Thread(target=supervise, name="hushan-worker-supervisor", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        with lock:
            stopping.set()
            child.terminate()
        child.wait()
        watcher.join()


@app.command()
def worker(
    db: DbOption = None,
    parent: Annotated[int | None, typer.Option(hidden=True)] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            help="Seconds between rounds (default HUSHAN_SWEEP_INTERVAL_SECONDS).", min=0.01
        ),
    ] = None,
) -> None:
    """Run the background work alone: the purge sweep and a log checkpoint every interval,
    erasure jobs as soon as they are queued and webhook deliveries as soon as they are due,
    until SIGTERM or Ctrl-C. Pair it with `serve --no-sweep` (and HUSHAN_ERASURES_IN_WORKER=true
    to hand it the erasures); several may run at once."""
    import signal
    import threading

    from hushan.delivery import Deliverer
    from hushan.sweeper import Sweeper
    from hushan.witnessing import Cosigning, parse_witnesses

    # Listen before the (slow) start: a SIGTERM while migrating still ends the worker cleanly.
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if parent is not None:
        when_orphaned(parent, stop.set)
    settings = settings_for(db)
    with engine_for(db) as engine:
        deliverer = Deliverer(
            engine,
            timeout=settings.webhook_timeout_seconds,
            batch=settings.webhook_batch,
            threads=settings.webhook_threads,
            lease_slack=timedelta(seconds=settings.webhook_lease_slack_seconds),
        )
        witnesses = parse_witnesses(settings.witnesses)
        cosigning = (
            Cosigning(engine.log, witnesses, settings.witness_timeout_seconds)
            if witnesses
            else None
        )
        sweeper = Sweeper(
            engine,
            interval or settings.sweep_interval_seconds,
            stop,
            deliverer=deliverer,
            cosigning=cosigning,
        )
        logs.configure(settings.log_format)
        console.print(f"hushan worker on {settings.database_label}, every {sweeper.interval} s")
        try:
            sweeper.run()
        finally:
            deliverer.close()
    console.print("hushan worker stopped")


@user_app.command("create")
def user_create(
    user_id: Annotated[str, typer.Argument(help="The stable id the app chose.")],
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).")] = None,
    no_verification: Annotated[
        bool, typer.Option("--no-verification", help="Accept friend requests without asking.")
    ] = False,
    db: DbOption = None,
) -> None:
    """Create a user and print their bearer token (shown once)."""
    try:
        with engine_for(db) as engine:
            user, token = engine.create_user(user_id, name, not no_verification)
    except HushanError as error:
        raise fail(error) from None
    console.print(f"created [bold]{user.id}[/bold]; token: {token}")


@user_app.command("login-link")
def user_login_link(
    user_id: Annotated[str, typer.Argument(help="The user the link signs in.")],
    base_url: Annotated[
        str, typer.Option(help="Where the console is served, as the user's browser reaches it.")
    ] = "http://127.0.0.1:8000",
    ttl: Annotated[int, typer.Option(help="Seconds the link works (60 at least).")] = 600,
    db: DbOption = None,
) -> None:
    """Print a one-time login link to the web console for the user, valid `--ttl` seconds."""
    from datetime import timedelta

    from hushan.console.links import login_link

    try:
        with engine_for(db) as engine:
            token, _ = engine.mint_token(user_id, timedelta(seconds=ttl))
    except HushanError as error:
        raise fail(error) from None
    console.print(login_link(base_url, token), soft_wrap=True)


@user_app.command("export")
def user_export(
    user_id: Annotated[str, typer.Argument(help="The user whose data to export.")],
    out: Annotated[Path, typer.Option(help="Where to write the JSON archive.")] = Path(
        "export.json"
    ),
    db: DbOption = None,
) -> None:
    """Export everything hushan holds that the user may read, as one JSON archive."""
    from hushan.api.shapes import export_json

    try:
        with engine_for(db) as engine:
            archive = export_json(engine.export_account(user_id), engine.limits.notice_minimum)
    except HushanError as error:
        raise fail(error) from None
    # Decrypted messages: readable by the operator running this, nobody else.
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a file that was there keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write(json.dumps(archive, ensure_ascii=False, indent=1) + "\n")
    console.print(f"export of {user_id} written to {out}")


@user_app.command("erase")
def user_erase(
    user_id: Annotated[str, typer.Argument(help="The account to erase, for good.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: there is no undo.")] = False,
    db: DbOption = None,
) -> None:
    """Erase an account: every relationship parts as a block-then-delete would, its data goes,
    and the audit log keeps only a reference nobody can tie back to the id."""
    if not yes:
        console.print("[red]error[/red] erasing an account cannot be undone: add --yes")
        raise typer.Exit(EXIT_DOMAIN_ERROR)
    try:
        with engine_for(db) as engine:
            engine.erase_account(user_id)
    except HushanError as error:
        raise fail(error) from None
    console.print(f"erased {user_id}")


@credentials_app.command("create")
def credentials_create(
    name: Annotated[str, typer.Argument(help="A name for people, e.g. the app backend's.")],
    scope: Annotated[
        list[Scope], typer.Option("--scope", help="A scope to grant; repeat for more.")
    ],
    db: DbOption = None,
) -> None:
    """Create a service credential and print its secret (shown once, never again)."""
    try:
        with engine_for(db) as engine:
            credential, secret = engine.create_credential(name, scope)
    except HushanError as error:
        raise fail(error) from None
    console.print(f"created {credential.id} ({name}); secret: {secret}", soft_wrap=True)


@credentials_app.command("list")
def credentials_list(db: DbOption = None) -> None:
    """Every credential, revoked ones too; never a secret."""
    with engine_for(db) as engine:
        found = engine.list_credentials()
    for c in found:  # one line each, whole: ids are copied from here
        line = (
            f"{c.id}  {c.name!r}  scopes={','.join(sorted(c.scopes))}"
            f"  created={c.created_at.isoformat()}"
            f"  revoked={c.revoked_at.isoformat() if c.revoked_at else '-'}"
            f"  previous_secret_until="
            f"{c.previous_expires_at.isoformat() if c.previous_expires_at else '-'}"
        )
        console.print(line, soft_wrap=True, markup=False, highlight=False)


@credentials_app.command("rotate")
def credentials_rotate(
    credential_id: Annotated[str, typer.Argument(help="The credential's id (c_...).")],
    overlap: Annotated[
        int, typer.Option(help="Seconds the secret before keeps working.", min=0, max=2592000)
    ] = 0,
    db: DbOption = None,
) -> None:
    """Give a credential a new secret (printed once); the old one works `--overlap` longer."""
    try:
        with engine_for(db) as engine:
            _, secret = engine.rotate_credential(credential_id, timedelta(seconds=overlap))
    except HushanError as error:
        raise fail(error) from None
    console.print(f"rotated {credential_id}; new secret: {secret}", soft_wrap=True)


@credentials_app.command("revoke")
def credentials_revoke(
    credential_id: Annotated[str, typer.Argument(help="The credential's id (c_...).")],
    db: DbOption = None,
) -> None:
    """Revoke a credential, every secret of it, at once."""
    try:
        with engine_for(db) as engine:
            revoked = engine.revoke_credential(credential_id)
    except HushanError as error:
        raise fail(error) from None
    console.print(f"{'revoked' if revoked else 'already revoked'}: {credential_id}")


@app.command("import")
def import_edges(
    source: Annotated[
        Path, typer.Argument(help="CSV of edges, one `owner,contact` per line; - for stdin.")
    ],
    no_verification: Annotated[
        bool,
        typer.Option("--no-verification", help="New users accept requests without asking."),
    ] = False,
    no_events: Annotated[
        bool,
        typer.Option(
            "--no-events",
            help="Write no webhook events for the imported relationships (see docs/webhooks.md).",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Bulk-load an existing friend graph in one transaction, with a progress bar."""
    stdin = str(source) == "-"
    if not stdin and not source.is_file():
        console.print(f"[red]error[/red] import_source: no such file: {source}")
        raise typer.Exit(EXIT_DOMAIN_ERROR)
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}"),
        TimeElapsedColumn(),
    )
    try:
        with (
            engine_for(db) as engine,
            Progress(*columns, console=console, transient=True) as bar,
            contextlib.nullcontext(sys.stdin.buffer) if stdin else source.open("rb") as raw,
        ):
            task = bar.add_task("edges read", total=None)

            def show(step: str, done: int, total: int | None) -> None:
                bar.update(task, description=step, completed=done, total=total)

            lines = (line.decode() for line in raw)
            result = importer.import_edges(
                engine, lines, not no_verification, show, events=not no_events
            )
    except HushanError as error:
        raise fail(error) from None
    except UnicodeDecodeError as error:
        console.print(f"[red]error[/red] import_source: not UTF-8 text ({error.reason}).")
        raise typer.Exit(EXIT_DOMAIN_ERROR) from None
    counts = result.counts
    console.print(
        f"imported {counts.edges:,} edges in {counts.pairs:,} pairs; {counts.users:,} new users;"
        f" {counts.audit_entries:,} audit entries; {counts.events:,} webhook events"
    )
    if result.statistics_error is not None:
        console.print(
            "[yellow]warning[/yellow] the import is committed, but refreshing the query"
            f" planner's statistics failed ({result.statistics_error}): run ANALYZE yourself."
        )


@app.command()
def pair(
    a: Annotated[str, typer.Argument(help="First user id.")],
    b: Annotated[str, typer.Argument(help="Second user id.")],
    db: DbOption = None,
) -> None:
    """Inspect a pair: both edges, blocks, history state and purge time."""
    try:
        with engine_for(db) as engine:
            found = engine.inspect_pair(a, b)
    except HushanError as error:
        raise fail(error) from None
    status, conversation = found.status, found.conversation
    table = Table(title=f"pair {a} / {b}", show_header=False)
    table.add_row("relation", status.relation.value)
    table.add_row(f"{a} blocks {b}", str(status.a_blocks_b))
    table.add_row(f"{b} blocks {a}", str(status.b_blocks_a))
    table.add_row("history", status.history_state.value if status.history_state else "none")
    table.add_row("purge at", str(status.purge_at or "-"))
    table.add_row("block-deleted", str(status.block_deleted))
    if conversation:
        table.add_row("data key", "present" if found.key_present else "destroyed")
        table.add_row("rows purged at", str(conversation.rows_purged_at or "-"))
    console.print(table)


@app.command()
def purge(db: DbOption = None) -> None:
    """Run one purge sweep now: expire requests, destroy due keys, delete purged rows."""
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with engine_for(db) as engine, Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task("sweeping", total=None)
        report = engine.purger.sweep(
            lambda step, done: progress.update(task, description=f"{step}: {done}")
        )
    console.print(
        f"requests expired {report.requests_expired}, keys destroyed {report.keys_destroyed}, "
        f"rows deleted {report.rows_deleted}, conversations finished "
        f"{report.conversations_finished}"
    )


@app.command()
def certificate(
    holder: Annotated[str, typer.Argument(help="The user asking (the certificate's side a).")],
    other: Annotated[str, typer.Argument(help="The other user of the pair.")],
    out: Annotated[Path, typer.Option(help="Where to write the certificate.")] = Path(
        "certificate.json"
    ),
    basis: Annotated[LegalBasis, typer.Option(help="The legal basis recorded.")] = (
        LegalBasis.USER_REQUEST
    ),
    disclose: Annotated[bool, typer.Option(help="Name both users (with the pair's salt).")] = False,
    earlier_size: Annotated[
        int | None, typer.Option(help="Also prove consistency from a kept checkpoint's size.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Issue a signed deletion certificate for a pair, as the holder's side sees it."""
    try:
        with engine_for(db) as engine:
            issued = engine.log.certificate(holder, other, basis, disclose, earlier_size)
    except HushanError as error:
        raise fail(error) from None
    out.write_bytes(issued)
    console.print(f"certificate for {holder} / {other} written to {out}")


@app.command()
def verify(
    cert: Annotated[Path, typer.Argument(help="The certificate file (JSON).")],
    key: Annotated[
        str, typer.Option(help="The deployment's public key (name+hash+key), or a file holding it.")
    ],
    earlier: Annotated[
        Path | None, typer.Option(help="A checkpoint kept from before (signed note file).")
    ] = None,
    max_age: Annotated[
        int | None,
        typer.Option(min=0, help="Refuse a certificate whose checkpoint is older (seconds)."),
    ] = None,
    later: Annotated[
        Path | None,
        typer.Option(help="A certificate of the same pair issued later: current or stale?"),
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(help="A witness's public key whose cosignature is required (repeatable)."),
    ] = None,
    witness_threshold: Annotated[
        int | None, typer.Option(min=1, help="How many of the witnesses must cosign (all).")
    ] = None,
) -> None:
    """Check a certificate offline: signature, every inclusion proof, consistency with an
    earlier checkpoint, that the claims follow from the entries, and that the entries end
    where the log's map says the pair's entries end."""
    from hushan.tlog.certificate import CertificateError
    from hushan.tlog.certificate import verify as check
    from hushan.tlog.note import NoteError, Verifier
    from hushan.tlog.witness import WitnessKey

    key_path = Path(key)
    try:
        verifier = Verifier.parse(key_path.read_text() if key_path.is_file() else key)
        witnesses = [WitnessKey.parse(w) for w in witness or []]
        if witness_threshold is not None and witness_threshold > len(witnesses):
            raise NoteError("witness_threshold_beyond_the_witnesses_given")
        verdict = check(
            cert.read_bytes(),
            verifier,
            earlier.read_text() if earlier is not None else None,
            max_age=None if max_age is None else timedelta(seconds=max_age),
            later=None if later is None else later.read_bytes(),
            witnesses=witnesses,
            witness_threshold=witness_threshold,
        )
    except (CertificateError, NoteError) as error:
        console.print(f"[red]INVALID[/red] {error}")
        raise typer.Exit(EXIT_DOMAIN_ERROR) from None
    except (OSError, UnicodeError) as error:
        console.print(f"[red]error[/red] {error}")
        raise typer.Exit(EXIT_DOMAIN_ERROR) from None
    claims = verdict.claims
    table = Table(title="VALID deletion certificate", show_header=False)
    names = verdict.disclosed or {"a": verdict.holder[:16] + "…", "b": verdict.other[:16] + "…"}
    table.add_row("pair", f"{names['a']} / {names['b']}")
    checkpoint = f"{verdict.checkpoint.origin} size {verdict.checkpoint.size}"
    if verdict.time is not None:
        checkpoint = f"as of checkpoint {verdict.checkpoint.size} at {iso_utc(verdict.time)}"
    table.add_row("checkpoint", checkpoint)
    table.add_row("entries proven", str(verdict.entries))
    table.add_row(
        "latest entry",
        "the last shown, as the log's map holds it"
        if verdict.map_checked
        else "not checked (format 1): later entries of the pair are not excluded",
    )
    if verdict.freshness is not None:
        table.add_row("freshness", verdict.freshness)
    if witnesses:
        table.add_row(
            "witnesses", f"cosigned by the {witness_threshold or len(witnesses)} required"
        )
    for field in ("relation", "history_state", "purge_at", "key_destroyed_at", "rows_purged_at"):
        table.add_row(field, str(claims[field] or "-"))
    table.add_row("blocks", f"a->b {claims['a_blocks_b']}, b->a {claims['b_blocks_a']}")
    for removal in claims["removals"]:
        who = "a" if removal["by"] == verdict.holder else "b"
        table.add_row("removal", f"{who} removed the other at {removal['at']}")
    console.print(table)


@log_app.command("key")
def log_key(db: DbOption = None) -> None:
    """Print the log's public key (give it to anyone who verifies certificates)."""
    with engine_for(db) as engine:
        console.print(str(engine.log.signer.verifier), soft_wrap=True)


@log_app.command("checkpoint")
def log_checkpoint(db: DbOption = None) -> None:
    """Integrate new audit entries and print a freshly signed checkpoint."""
    with engine_for(db) as engine:
        published = engine.log.publish()
    if published is None:
        raise fail(LogEmpty())
    console.print(published.note, end="", soft_wrap=True, markup=False, highlight=False)


@log_app.command("cosign")
def log_cosign(
    url: Annotated[str, typer.Argument(help="The witness's submission prefix (http://...).")],
    witness: Annotated[str, typer.Option(help="The witness's public key (name+id+key).")],
    db: DbOption = None,
) -> None:
    """Send the latest checkpoint to a witness with a consistency proof, and keep its
    cosignature on the checkpoint (served with it, and carried by certificates at it)."""
    from functools import partial

    import httpx

    from hushan.tlog.log import WitnessRefused
    from hushan.tlog.witness import WitnessKey
    from hushan.witnessing import WitnessEndpoint

    endpoint = WitnessEndpoint(url, WitnessKey.parse(witness))
    with engine_for(db) as engine:
        try:
            timeout = settings_for(db).witness_timeout_seconds
            cosigned = engine.log.cosign(partial(endpoint.submit, timeout=timeout), endpoint.key)
        except (WitnessRefused, httpx.HTTPError) as error:
            console.print(f"[red]error[/red] the witness did not cosign: {error}")
            raise typer.Exit(EXIT_DOMAIN_ERROR) from None
    console.print(cosigned.note, end="", soft_wrap=True, markup=False, highlight=False)


@witness_app.command("key")
def witness_key(
    name: Annotated[str, typer.Argument(help="The witness's name, e.g. witness.example/w1.")],
    out: Annotated[Path, typer.Option(help="Where to write the private key (mode 0600).")],
) -> None:
    """Make a witness key: the private key goes to --out, the public key is printed."""
    from hushan.tlog.witness import Cosigner

    cosigner = Cosigner.generate(name)
    out.touch(mode=0o600, exist_ok=False)
    out.write_text(str(cosigner) + "\n")
    console.print(str(cosigner.public), soft_wrap=True)


@witness_app.command("serve")
def witness_serve(
    key: Annotated[Path, typer.Option(help="The witness's private key file.")],
    log: Annotated[list[str], typer.Option(help="A log's public key to witness (repeatable).")],
    state: Annotated[Path, typer.Option(help="Where the last cosigned checkpoints are kept.")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8100,
) -> None:
    """Serve C2SP tlog-witness add-checkpoint: cosign a log's checkpoint only when it extends
    the last one cosigned for that log (a fork is refused)."""
    from hushan.tlog.note import Verifier
    from hushan.tlog.witness import Cosigner, Witness
    from hushan.tlog.witness_server import server

    witness = Witness(Cosigner.parse(key.read_text()), [Verifier.parse(k) for k in log], state)
    httpd = server(witness, host, port)
    console.print(f"witness {witness.cosigner.name} on http://{host}:{httpd.server_port}")
    with contextlib.suppress(KeyboardInterrupt):
        httpd.serve_forever()


@log_app.command("export")
def log_export(
    out: Annotated[Path, typer.Option(help="Where to write the log (JSON lines).")] = Path(
        "log.jsonl"
    ),
    db: DbOption = None,
) -> None:
    """Export every leaf and checkpoint, so an auditor can rebuild the tree."""
    columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with (
        engine_for(db) as engine,
        Progress(*columns, console=console) as progress,
        out.open("w") as f,
    ):
        engine.log.publish()
        size, _ = engine.log.head()
        task = progress.add_task("exporting", total=size)
        for record in engine.log.export():
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            if "leaf" in record:
                progress.advance(task)
    console.print(f"{size} leaves and their checkpoints written to {out}")


@app.command()
def demo() -> None:
    """Walk through the three ways to part on a throwaway database, showing both sides."""
    from hushan.demo import run

    run(console)


if __name__ == "__main__":
    app()

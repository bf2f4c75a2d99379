"""Schema fuzzing: schemathesis draws requests from the whole OpenAPI document, as a user, as the
admin and with no token, both requests the schema allows and requests it refuses, against a
real `hushan serve` on each backend. Every reply goes through every check schemathesis has
(no server error, status code, content type, headers and body conforming to the document,
valid data accepted and invalid data refused, authentication enforced, ...), and every error
must carry a documented code.

Each operation gets `HUSHAN_FUZZ_EXAMPLES` cases (default 3) per caller and per mode, from
Hypothesis's fixed seed, so a run is repeatable. `make fuzz` runs the long version and prints
the counts.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup
from schemathesis.core.parameters import ParameterLocation
from schemathesis.core.result import Ok
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import negative_data_rejection

from tests.api_client import ADMIN_HEADERS, Api, User, uid
from tests.server import Server
from tests.test_docs import error_codes

pytestmark = [pytest.mark.usefixtures("no_server_errors"), pytest.mark.long]

EXAMPLES = int(os.environ.get("HUSHAN_FUZZ_EXAMPLES", "3"))
CALLERS = ("user", "admin", "nobody")
# Path parameters that name another user: in valid cases, the caller's friend.
OTHER_USER = ("other", "author", "requester", "proposer", "member", "b")
BODY_USER = ("to", "user", "other")
# Valid by the schema, refused by the state: a cursor past the head of the feed, a log size the
# log has not reached, an idempotency key the caller first sent with another request, a list's
# cursor that the list never gave out. No schema can say where the head is, which keys were used
# or which strings are cursors (they are opaque), so these 422s are not failures.
STATE_CODES = frozenset(
    {
        "cursor_out_of_range",
        "earlier_size_out_of_range",
        "idempotency_key_reused",
        "invalid_cursor",
        # A hold's expiry must be after the server's clock, and a hold on a pair must name two
        # users: the fuzzer's friend fills both `user` and `other`. No schema says either.
        "invalid_hold_expiry",
        "hold_pair_of_one_user",
    }
)


def _case_runner(
    server: Server, failures: list[str], statuses: Counter[int]
) -> Any:  # the Hypothesis test body, shared by every operation
    documented = set(error_codes())
    session = requests.Session()

    def run(case: Case[Any], auth: dict[str, str], friend: str | None) -> None:
        if friend is not None and isinstance(case.body, dict):
            for key in BODY_USER:
                if isinstance(case.body.get(key), str):
                    case.body[key] = friend
        response = case.call(base_url=server.url, session=session, headers=auth, timeout=30)
        statuses[response.status_code] += 1
        where = f"{case.method} {case.formatted_path} -> {response.status_code}"
        code = None
        if response.status_code >= 400:
            try:
                code = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                failures.append(f"{where}: not the JSON error shape: {response.text[:300]}")
            else:
                if code not in documented:
                    failures.append(f"{where}: undocumented code {code}")
        sent = {"base_url": server.url, "session": session, "headers": auth}
        # The caller's own token replaces an Authorization header the case left out or spoilt
        # on purpose: judged as refusing that header, such a case would be judged for a request
        # it did not send (the nobody caller sends them as drawn).
        replaced = bool(auth and case.meta and case.meta.is_negative_at(ParameterLocation.HEADER))
        try:
            case.validate_response(
                response,
                headers=auth,
                transport_kwargs=sent,
                excluded_checks=[negative_data_rejection] if replaced else None,
            )
        except FailureGroup as group:
            for failure in group.exceptions:
                if isinstance(failure, RejectedPositiveData) and code in STATE_CODES:
                    continue
                # A body drawn past the body limit is refused before it is parsed: a 413 is
                # the rejection the check asks for, whatever else the body gets wrong.
                if isinstance(failure, AcceptedNegativeData) and code == "body_too_large":
                    continue
                failures.append(
                    f"{where}: {failure.title}: {failure.message[:400]}\n"
                    f"  {case.as_curl_command(headers=auth)}"
                )

    return run


def test_no_request_gets_a_500(server: Server, api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    run = _case_runner(server, failures, statuses)
    started = time.monotonic()
    results = list(schema.get_all_operations())
    operations = [result.ok() for result in results if isinstance(result, Ok)]
    assert len(operations) == len(results), "an operation schemathesis cannot read"
    for operation in operations:
        # A user of their own for each operation: an erasure or a flood of requests
        # fuzzed into one operation leaves the next one a fresh account.
        me, friend = api.create_user(uid("f")), api.create_user(uid("g"))
        api.befriend(me, friend)
        for caller in CALLERS:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _fuzz(operation, caller, mode, me, friend, run)
    elapsed = time.monotonic() - started
    cases = sum(statuses.values())
    summary = {
        "operations": len(operations),
        "cases": cases,
        "seconds": round(elapsed, 1),
        "statuses": dict(sorted(statuses.items())),
        "failures": len(failures),
    }
    print("\nfuzz:", json.dumps(summary))
    assert cases >= len(operations) * len(CALLERS), summary
    assert not failures, "\n".join(failures[:20])


def _fuzz(
    operation: Any, caller: str, mode: GenerationMode, me: User, friend: User, run: Any
) -> None:
    params = {p.name for p in operation.path_parameters}
    fixed: dict[str, str] = {}
    auth: dict[str, str] = {}
    if caller == "user":
        auth = me.auth
        if "user_id" in params:
            fixed["user_id"] = me.id
    elif caller == "admin":
        auth = dict(ADMIN_HEADERS)
        if "a" in params:
            fixed["a"] = me.id
    valid = mode is GenerationMode.POSITIVE and caller != "nobody"
    if valid:  # reach past "no such user": name the friend
        fixed.update({name: friend.id for name in OTHER_USER if name in params})
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed or None)

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def fuzz(case: Case[Any]) -> None:
        run(case, auth, friend.id if valid else None)

    try:
        fuzz()
    except Unsatisfiable:  # nothing in the operation can be made invalid (e.g. /healthz)
        assert mode is GenerationMode.NEGATIVE

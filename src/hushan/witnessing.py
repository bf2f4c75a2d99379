"""Asking witnesses to cosign the log's checkpoints (C2SP tlog-witness), by hand (`hushan log
cosign`) or on every worker round (`HUSHAN_WITNESSES`).

A checkpoint only a deployment has signed proves nothing against that deployment showing
different logs to different people; one its witnesses have cosigned does, and certificates
carry the cosignatures of their checkpoint. So the worker asks each configured witness after
every round that published a checkpoint it has not yet cosigned. A witness that is down or
refuses is logged and asked again next round: cosigning is never a reason to stop the
sweep, nor to withhold a checkpoint.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import httpx

from hushan.tlog.log import TransparencyLog, WitnessRefused
from hushan.tlog.note import NoteError
from hushan.tlog.witness import WitnessKey

log = logging.getLogger("hushan.witnessing")

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness as the log reaches it: its submission prefix and its public key."""

    url: str
    key: WitnessKey

    def submit(self, body: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> tuple[int, str, str]:
        """POST an add-checkpoint request; its status, content type and text."""
        reply = httpx.post(
            self.url.rstrip("/") + "/add-checkpoint", content=body.encode(), timeout=timeout
        )
        return reply.status_code, reply.headers.get("content-type", ""), reply.text


def parse_witnesses(text: str) -> list[WitnessEndpoint]:
    """`URL KEY` entries separated by `;` (HUSHAN_WITNESSES); ValueError names the entry that
    is wrong and why."""
    found: list[WitnessEndpoint] = []
    for number, entry in enumerate((e for e in text.split(";") if e.strip()), start=1):
        parts = entry.split()
        if len(parts) != 2:
            raise ValueError(f"witness {number}: write it as 'URL KEY' (two words), not {entry!r}")
        url, key = parts
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"witness {number}: {url!r} is not an http:// or https:// URL")
        try:
            parsed = WitnessKey.parse(key)
        except NoteError:
            raise ValueError(
                f"witness {number}: {key!r} is not a witness public key (name+id+base64)"
            ) from None
        if any(w.key.key_id == parsed.key_id for w in found):
            raise ValueError(f"witness {number}: the key of {parsed.name} is given twice")
        found.append(WitnessEndpoint(url, parsed))
    return found


class Cosigning:
    """One worker's asking: `run_once` after each round."""

    def __init__(
        self,
        transparency: TransparencyLog,
        witnesses: Sequence[WitnessEndpoint],
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self._log = transparency
        self._witnesses = list(witnesses)
        self._timeout = timeout

    def run_once(self) -> int:
        """Ask every witness whose cosignature the latest checkpoint lacks (another worker's,
        or an earlier round's, counts); how many cosigned now."""
        latest = self._log.latest_checkpoint()
        if latest is None:
            return 0
        cosigned = 0
        for witness in self._witnesses:
            if witness.key.cosigned_at(latest.note) is not None:
                continue
            try:
                submit = partial(witness.submit, timeout=self._timeout)
                done = self._log.cosign(submit, witness.key)
            except (WitnessRefused, httpx.HTTPError) as error:
                log.warning(
                    "witness %s (%s) did not cosign checkpoint %d; asking again next round: %s",
                    witness.key.name,
                    witness.url,
                    latest.size,
                    error,
                )
                continue
            cosigned += 1
            log.info("witness %s cosigned checkpoint %d", witness.key.name, done.size)
        return cosigned

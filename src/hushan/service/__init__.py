"""The service functions: every way in (library, HTTP, CLI) calls these and nothing else.

Each public method is one transaction: it loads the pair's facts, asks a rule in
`hushan.domain.rules`, writes what the rule decided and the audit entries that account for it
(Rule 7), and commits, or raises a `HushanError` having changed nothing.

The engine is one class, `Hushan`, made of one part per module, each a subclass of
`engine.EngineCore` (the parts and the lookups they share): `users` (users, settings),
`credentials` (service credentials, user tokens), `requests` (friend requests, becoming
friends), `contacts` (the three ways to part),
`messages` (messages, the history as each side reads it), `notices` (graded deletion
notices), `views` (server-side views), `posts`, `groups`, `proposals`, `sync` (devices, the
feed, the data residue), `rights` (export and erasure), `idempotency` (idempotency keys) and
`webhooks` (endpoints and deliveries of events out), `platforms` (linked platforms),
`miniprograms` (mini-programs' ids and grants), `orgs` (organisations: the directory,
enterprise link approvals, handovers), `holds` (legal holds), `cleanup` (progressive
cleanup: bulk removals with a preview and an undo).
`pairlog.PairLog` records one change to a pair; the sweep is here.
"""

from __future__ import annotations

import dataclasses

from hushan.purge import SweepReport
from hushan.service.cleanup import AppliedBatch, CleanupService, UndoneBatch
from hushan.service.contacts import BlockDeleteOutcome, BlockOutcome, DeleteOutcome
from hushan.service.credentials import CredentialsService
from hushan.service.engine import EngineCore, Limits
from hushan.service.groups import SharedGroups
from hushan.service.holds import HoldsService
from hushan.service.idempotency import IdempotencyService
from hushan.service.messages import History, MessagesService
from hushan.service.miniprograms import MiniProgramsService
from hushan.service.notices import RelationView
from hushan.service.official import OfficialService
from hushan.service.orgs import OrgsService
from hushan.service.platforms import PlatformsService
from hushan.service.posts import PostsService, PostsView
from hushan.service.proposals import REMOVED_ANYWAY, ProposalsService
from hushan.service.requests import RejectOutcome, WithdrawOutcome
from hushan.service.rights import AccountExport, ExportedHistory, RightsService, own_entries
from hushan.service.sync import Residue, SyncService
from hushan.service.users import UsersService, hash_token
from hushan.service.views import PairInspection, ViewsService
from hushan.service.webhooks import WebhooksService

__all__ = [
    "REMOVED_ANYWAY",
    "AccountExport",
    "AppliedBatch",
    "BlockDeleteOutcome",
    "BlockOutcome",
    "DeleteOutcome",
    "EngineCore",
    "ExportedHistory",
    "History",
    "Hushan",
    "Limits",
    "PairInspection",
    "PostsView",
    "RejectOutcome",
    "RelationView",
    "Residue",
    "SharedGroups",
    "UndoneBatch",
    "WithdrawOutcome",
    "hash_token",
    "own_entries",
]


class Hushan(
    HoldsService,
    MiniProgramsService,
    PlatformsService,
    WebhooksService,
    IdempotencyService,
    RightsService,
    SyncService,
    PostsService,
    ProposalsService,
    MessagesService,
    UsersService,
    CredentialsService,
    OfficialService,
    OrgsService,
    CleanupService,
    ViewsService,
):
    """The relationship engine. Thread-safe; holds no state of its own besides its parts."""

    def sweep(self) -> SweepReport:
        """Run one purge sweep (Rule 5), close mutual-delete proposals whose window passed,
        then sign a checkpoint of the log. Legal holds past their expiry end first, so that
        this very sweep purges what they alone kept."""
        started = self.clock.now()
        holds_expired = self.expire_holds()
        report = self.purger.sweep()  # first after that: nothing else may hold up a due purge
        report = dataclasses.replace(
            report,
            holds_expired=holds_expired,
            proposals_expired=self.expire_proposals(),
            changes_pruned=self.prune_changes(),
            erasures_finished=self.finish_erasures(),
            idempotency_keys_pruned=self.prune_idempotency(),
            webhook_events_pruned=self.prune_webhooks(),
            approvals_due=self.decide_due_approvals(),
            handovers_ended=self.end_due_handovers(),
        )
        self.log.publish()
        self.record_sweep(started, report)
        return report

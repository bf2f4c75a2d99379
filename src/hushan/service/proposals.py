"""Consensual mutual delete (`hushan.domain.proposals`), as engine calls."""

from __future__ import annotations

from datetime import datetime, timedelta

from hushan.domain import proposals, rules
from hushan.domain.errors import ProposalNotFound, ProposalPending
from hushan.domain.notices import NoticeKind
from hushan.domain.proposals import Proposal, ProposalStatus
from hushan.service.contacts import ContactsService
from hushan.service.pairlog import PairLog
from hushan.store.base import NO_LIMIT, Tx

PROPOSALS_PER_ROUND = 64
REMOVED_ANYWAY = "removed_anyway"  # a notice's detail: the proposer's side went regardless


class ProposalsService(ContactsService):
    """Propose, accept, decline, withdraw, and the expiry of the window."""

    def propose_mutual_delete(
        self, actor: str, other: str, message: str = "", remove_anyway: bool = False
    ) -> Proposal:
        rules.check_not_self(actor, other)
        rules.check_verification_message(message, self.limits.max_verification_chars)
        now = self.clock.now()
        self._expire_due_between(actor, other, now)  # committed first: it may change the pair
        with self.store.write(actor, other) as tx:
            theirs = tx.pending_proposal(other, actor)
            if tx.pending_proposal(actor, other) or (theirs and not theirs.swallowed):
                raise ProposalPending()  # a swallowed one is invisible to its addressee
            facts = self._facts(tx, actor, other)
            proposals.check_can_propose(facts)
            swallowed = facts.other_blocks_actor  # Rule 3: they never see it
            expires_at = now + timedelta(seconds=self.limits.proposal_ttl_seconds)
            proposal_id = tx.insert_proposal(
                actor, other, message, remove_anyway, now, expires_at, swallowed
            )
            if not swallowed:
                tx.add_notice(other, NoticeKind.MUTUAL_DELETE_PROPOSED, actor, now, now, message)
        status = ProposalStatus.PENDING
        return Proposal(
            proposal_id, actor, other, message, remove_anyway, status, now, expires_at, swallowed
        )

    def accept_mutual_delete(self, actor: str, proposer: str) -> ProposalStatus:
        """Both edges go in this one transaction (a mutual delete, Rule 4); both are told."""
        now = self.clock.now()
        with self.store.write(actor, proposer) as tx:
            proposal = self._live_proposal(tx, proposer, actor, now, answering=True)
            for remover, removed in ((actor, proposer), (proposer, actor)):
                self._consented_removal(tx, remover, removed, now, told=True)
            tx.decide_proposal(proposal.id, ProposalStatus.ACCEPTED, now)
            for user, other in ((actor, proposer), (proposer, actor)):
                tx.add_notice(user, NoticeKind.MUTUAL_DELETE_ACCEPTED, other, now, now)
        return ProposalStatus.ACCEPTED

    def _consented_removal(
        self, tx: Tx, remover: str, removed: str, now: datetime, told: bool
    ) -> None:
        """Remove the remover's edge, if it is still there, as agreed. It is a plain removal
        even under the remover's block: erasing at once (Rule 6) would show the other side the
        block, so the history is buffered as in any mutual delete, and the blocker can still
        erase it with a block-and-delete. `told`: the other side knows of it from the
        proposal's notices, so it is kept as disclosed; else it is kept under the remover's
        grade like any delete."""
        facts = self._facts(tx, remover, removed)  # read again: an earlier removal changed it
        if facts.actor_has_other:
            pair = PairLog(tx, now, remover, removed, facts)
            self._remove_edge(pair, facts, may_buffer=True, consented=told)

    def decline_mutual_delete(self, actor: str, proposer: str) -> bool:
        """Decline; returns whether the proposer asked for their side to go anyway (it went,
        if it was still there: the answer does not tell whether they had removed you)."""
        now = self.clock.now()
        with self.store.write(actor, proposer) as tx:
            proposal = self._live_proposal(tx, proposer, actor, now, answering=True)
            tx.decide_proposal(proposal.id, ProposalStatus.DECLINED, now)
            self._remove_anyway(tx, proposal, now)
            detail = REMOVED_ANYWAY if proposal.remove_anyway else ""
            tx.add_notice(proposer, NoticeKind.MUTUAL_DELETE_DECLINED, actor, now, now, detail)
        return proposal.remove_anyway

    def withdraw_mutual_delete(self, actor: str, other: str) -> ProposalStatus:
        now = self.clock.now()
        with self.store.write(actor, other) as tx:
            proposal = self._live_proposal(tx, actor, other, now)
            tx.decide_proposal(proposal.id, ProposalStatus.WITHDRAWN, now)
            if not proposal.swallowed:
                tx.add_notice(other, NoticeKind.MUTUAL_DELETE_WITHDRAWN, actor, now, now)
        return ProposalStatus.WITHDRAWN

    def list_proposals(
        self, actor: str, incoming: bool, after_id: int = 0, limit: int = NO_LIMIT
    ) -> list[Proposal]:
        with self.store.read() as tx:
            return tx.live_proposals(actor, incoming, self.clock.now(), after_id, limit)

    def expire_proposals(self) -> int:
        """Close every proposal whose window has passed (each in its pair's own transaction)."""
        now, expired = self.clock.now(), 0
        while True:
            with self.store.read() as tx:
                due = tx.due_proposals(now, PROPOSALS_PER_ROUND)
            for found in due:
                with self.store.write(*found.pair) as tx:
                    proposal = tx.pending_proposal(*found.pair)
                    if proposal is not None and proposal.id == found.id:  # else decided since
                        self._expire_proposal(tx, proposal, now)
                        expired += 1
            if len(due) < PROPOSALS_PER_ROUND:
                return expired

    def _live_proposal(
        self, tx: Tx, proposer: str, other: str, now: datetime, answering: bool = False
    ) -> Proposal:
        """The proposer's pending proposal to the other, its window open; `answering` (the
        other accepts or declines) also hides one that was swallowed."""
        proposal = tx.pending_proposal(proposer, other)
        if proposal is None or proposal.is_due(now) or (answering and proposal.swallowed):
            raise ProposalNotFound()
        return proposal

    def _expire_due_between(self, a: str, b: str, now: datetime) -> None:
        with self.store.write(a, b) as tx:
            for proposal in (tx.pending_proposal(a, b), tx.pending_proposal(b, a)):
                if proposal is not None and proposal.is_due(now):
                    self._expire_proposal(tx, proposal, now)

    def _expire_proposal(self, tx: Tx, proposal: Proposal, now: datetime) -> None:
        tx.decide_proposal(proposal.id, ProposalStatus.EXPIRED, now)
        self._remove_anyway(tx, proposal, now)
        detail = REMOVED_ANYWAY if proposal.remove_anyway else ""
        told = [proposal.pair] if proposal.swallowed else [proposal.pair, proposal.pair[::-1]]
        for user, other in told:
            kind = NoticeKind.MUTUAL_DELETE_EXPIRED
            tx.add_notice(user, kind, other, proposal.expires_at, now, detail)

    def _remove_anyway(self, tx: Tx, proposal: Proposal, now: datetime) -> None:
        """With "remove anyway", the proposer's side goes, unless they removed the other
        themselves since (a side added back after that belongs to a later friendship). A
        swallowed proposal's addressee was never told of it, so that removal is kept under
        the proposer's own grade, as any delete of theirs."""
        if proposal.remove_anyway and not proposal.spent:
            told = not proposal.swallowed
            self._consented_removal(tx, proposal.proposer, proposal.other, now, told=told)

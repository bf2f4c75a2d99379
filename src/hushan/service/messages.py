"""Messages (Rule 2) and the conversation as each side may read it, as engine calls."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hushan.domain import notices, rules
from hushan.domain.errors import BlockedByRecipient, InvalidTransition, RecipientRemovedYou, Refused
from hushan.domain.model import HistoryState, Message, PairFacts
from hushan.domain.sync import ChangeKind
from hushan.service.notices import NoticesService
from hushan.service.pairlog import PairLog
from hushan.store.base import NO_LIMIT, ChatRow, Tx


@dataclass(frozen=True, slots=True)
class History:
    """What one side can read of a pair's conversation (the contract's table)."""

    state: HistoryState | None
    purge_at: datetime | None
    read_only: bool
    messages: list[Message]


class MessagesService(NoticesService):
    """Send a message, read a history, the chat list. Built on notices: a refusal may
    disclose the recipient's removal of the sender."""

    def send_message(
        self, actor: str, recipient: str, body: str, client_msg_id: str | None = None
    ) -> Message:
        return self.send(actor, recipient, body, client_msg_id)[0]

    def send(
        self, actor: str, recipient: str, body: str, client_msg_id: str | None = None
    ) -> tuple[Message, bool]:
        """The message sent, and whether it is new: a `client_msg_id` the sender already used
        finds their first message (whoever it went to) and stores nothing."""
        rules.check_message_body(body, self.limits.max_message_chars)
        now = self.clock.now()
        with self.store.write(actor, recipient) as tx:
            if client_msg_id is not None:
                first = self._first_send(tx, actor, client_msg_id)
                if first is not None:
                    return first, False
            facts = self._facts(tx, actor, recipient)
            refusal = self._refusal(tx, facts, actor, recipient, now)
            if refusal is None:
                conversation = facts.conversation
                if conversation is None or conversation.state is not HistoryState.ACTIVE:
                    raise InvalidTransition("Friends without an active conversation (a bug).")
                key = self._data_key(tx, conversation)
                sealed = self.sealer.seal(key, conversation.id, body)
                message_id = tx.insert_message(conversation, actor, sealed, now, client_msg_id)
                PairLog(tx, now, actor, recipient, facts).tell_both(
                    ChangeKind.MESSAGE, conversation.id, message_id=message_id
                )
                return Message(message_id, conversation.id, actor, body, now, client_msg_id), True
        raise refusal  # after the commit: a disclosure the refusal made is kept

    def _first_send(self, tx: Tx, actor: str, client_msg_id: str) -> Message | None:
        found = tx.message_by_client_id(actor, client_msg_id)
        if found is None:
            return None
        conversation_id, lo, stored = found
        wrapped = tx.wrapped_key(conversation_id, lo)
        if wrapped is None:  # purged: its rows are going, and the id is the sender's again
            tx.forget_client_id(stored.id)
            return None
        key = self.sealer.unwrap(wrapped, conversation_id)
        return self._opened(key, conversation_id, [stored])[0]

    def _refusal(
        self, tx: Tx, facts: PairFacts, actor: str, recipient: str, now: datetime
    ) -> Refused | None:
        """Rule 2's refusal, if any. Where the recipient removed the sender under a grade that
        discloses it, the refusal says so plainly, in place of the 朋友验证 text and of any
        block (which is never disclosed)."""
        try:
            rules.check_message_allowed(facts)
        except (RecipientRemovedYou, BlockedByRecipient) as refused:
            removal = self._disclosed_removal(tx, facts, actor, recipient, now)
            if removal is not None:
                return RecipientRemovedYou(notices.removal_message(removal))
            return refused
        return None

    def history(self, actor: str, other: str, after_id: int = 0, limit: int = 100) -> History:
        """The conversation as the actor may read it: kept, buffered (read-only, with its purge
        date), or purged (nothing)."""
        with self.store.read() as tx:
            facts = self._facts(tx, actor, other)
            conversation = facts.conversation
            if conversation is None:
                return History(None, None, False, [])
            if conversation.state is HistoryState.PURGED:
                return History(HistoryState.PURGED, None, True, [])
            if not rules.is_readable(conversation):
                # Kept past its purge date by a legal hold, or sealed under one: still there,
                # readable by nobody (the data residue says why).
                return History(conversation.state, conversation.purge_at, True, [])
            key = self._data_key(tx, conversation)
            stored = tx.list_messages(conversation, after_id, limit)
        messages = self._opened(key, conversation.id, stored)
        return History(
            conversation.state,
            conversation.purge_at,
            conversation.state is HistoryState.BUFFERED,
            messages,
        )

    def chat_list(self, actor: str, after: str = "", limit: int = NO_LIMIT) -> list[ChatRow]:
        with self.store.read() as tx:
            return tx.chat_list(actor, after, limit)

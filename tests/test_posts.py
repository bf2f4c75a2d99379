"""Posts, their audience and the layers, on each backend: who sees what after each way to
part, and how the notice grades show in the posts view."""

from __future__ import annotations

import pytest

from hushan.domain.errors import InvalidTag, InvalidUserId, MessageEmpty, NotInYourContacts
from hushan.domain.notices import NoticeGrade
from hushan.domain.posts import Audience, Layer
from hushan.service import Hushan
from tests.drive import befriend as friends


def seen(engine: Hushan, viewer: str) -> list[str]:
    return [p.body for p in engine.feed(viewer)]


def test_friends_see_each_others_posts_newest_first(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.create_user("C")
    engine.create_post("A", "first")
    engine.create_post("B", "second")
    engine.create_post("C", "a stranger's")
    assert seen(engine, "A") == ["second", "first"]  # one's own posts are in one's feed
    assert seen(engine, "C") == ["a stranger's"]
    first_page = engine.feed("A", limit=1)
    assert [p.body for p in engine.feed("A", before_id=first_page[0].id)] == ["first"]


@pytest.mark.parametrize(
    ("way", "b_sees_a"),
    [
        ("nothing", True),
        ("a_deletes_b", False),  # the "permission change": the only sign under silent
        ("b_deletes_a", False),  # not in B's list, so not in B's feed
        ("a_blocks_b", False),
        ("a_puts_b_chat_only", False),
        ("a_hides_the_post_from_b", False),
    ],
)
def test_who_sees_a_post(engine: Hushan, way: str, b_sees_a: bool) -> None:
    friends(engine, "A", "B")
    hidden = ["B"] if way == "a_hides_the_post_from_b" else []
    audience = Audience.EXCEPT if hidden else Audience.ALL
    if way == "a_deletes_b":
        engine.delete_contact("A", "B")
    elif way == "b_deletes_a":
        engine.delete_contact("B", "A")
    elif way == "a_blocks_b":
        engine.block("A", "B")
    elif way == "a_puts_b_chat_only":
        engine.set_layer("A", "B", Layer.CHAT_ONLY)
    engine.create_post("A", "hello", audience, hidden)
    assert (seen(engine, "B") == ["hello"]) is b_sees_a
    assert (len(engine.posts_by("B", "A").posts) == 1) is b_sees_a


def test_chat_only_can_still_message_and_is_not_told(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.create_post("A", "before")
    engine.set_layer("A", "B", Layer.CHAT_ONLY)
    assert seen(engine, "B") == []
    assert engine.send_message("B", "A", "still talking").body == "still talking"
    assert engine.relation_view("B", "A").removed_you_at is None
    assert engine.notices("B") == []
    engine.set_layer("A", "B", Layer.FULL)
    assert seen(engine, "B") == ["before"]


@pytest.mark.parametrize("grade", list(NoticeGrade))
def test_the_posts_view_after_a_removal_follows_the_grade(
    engine: Hushan, grade: NoticeGrade
) -> None:
    friends(engine, "A", "B")
    engine.create_post("A", "hello")
    engine.update_settings("A", notice_grade=grade)
    engine.delete_contact("A", "B")
    view = engine.posts_by("B", "A")
    assert view.posts == []
    assert (view.removed_you_at is not None) is (grade is not NoticeGrade.SILENT)
    assert len(engine.notices("B")) == (0 if grade is NoticeGrade.SILENT else 1)


def test_a_re_add_brings_the_posts_back(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.create_post("A", "hello")
    engine.delete_contact("A", "B")
    engine.send_request("A", "B")
    assert seen(engine, "B") == ["hello"]


def test_refusals(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.create_user("C")
    with pytest.raises(MessageEmpty):
        engine.create_post("A", "")
    with pytest.raises(InvalidUserId):
        engine.create_post("A", "x", Audience.EXCEPT, ["not an id"])
    with pytest.raises(NotInYourContacts):
        engine.set_layer("A", "C", Layer.CHAT_ONLY)
    assert engine.feed("A") == []


def test_a_tag_audience_reaches_only_the_tagged(engine: Hushan) -> None:
    friends(engine, "A", "B")
    friends(engine, "A", "C")
    assert engine.tag_contact("A", "B", "同事") == ["同事"]
    post = engine.create_post("A", "for colleagues", Audience.TAG, tag="同事")
    assert post.tag == "同事"
    assert seen(engine, "B") == ["for colleagues"]
    assert seen(engine, "C") == []
    assert engine.tag_contact("A", "B", "同事", on=False) == []  # untagged: gone again
    assert seen(engine, "B") == []
    assert engine.contact_tags("A", "B") == []


def test_tags_are_checked(engine: Hushan) -> None:
    friends(engine, "A", "B")
    engine.create_user("C")
    for bad in ("", " padded", "x" * 33, "tab\there"):
        with pytest.raises(InvalidTag):
            engine.tag_contact("A", "B", bad)
    with pytest.raises(InvalidTag):
        engine.create_post("A", "no tag named", Audience.TAG)
    with pytest.raises(NotInYourContacts):
        engine.tag_contact("A", "C", "friends")


def test_labelled_contacts_carry_their_own_tags_and_layers(engine: Hushan) -> None:
    friends(engine, "A", "B")
    friends(engine, "A", "C")
    friends(engine, "B", "C")
    engine.tag_contact("A", "B", "family")
    engine.tag_contact("A", "B", "work")
    engine.set_layer("A", "C", Layer.CHAT_ONLY)
    engine.tag_contact("B", "C", "school")  # B's labels, never A's
    engine.set_layer("B", "A", Layer.CHAT_ONLY)
    shown = [(c.contact.user_id, c.tags, c.layer) for c in engine.labelled_contacts("A")]
    assert shown == [("B", ["family", "work"], Layer.FULL), ("C", [], Layer.CHAT_ONLY)]
    assert [c.contact.user_id for c in engine.labelled_contacts("A", after="B", limit=5)] == ["C"]

"""Every length and count limit, exactly at it, one below and one above: a limit is a promise
about its edge, and an off-by-one there is what a test one past it cannot see."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hushan.domain import errors, groups, posts, rules, sync

# (name, check of a text, the limit in characters, the error past it)
TEXT_LIMITS: list[tuple[str, Callable[[str], object], int, type[errors.HushanError]]] = [
    ("user id", rules.check_user_id, 64, errors.InvalidUserId),
    ("contact tag", posts.check_tag, 32, errors.InvalidTag),
    ("group name", groups.check_group_name, 64, errors.InvalidGroupName),
    ("device name", sync.check_device_name, 64, errors.InvalidDeviceName),
    (
        "verification message",
        lambda text: rules.check_verification_message(text, 200),
        200,
        errors.VerificationTooLong,
    ),
    (
        "message body",
        lambda text: rules.check_message_body(text, 4096),
        4096,
        errors.MessageTooLong,
    ),
]

# (name, check of a count already reached, the limit, the error at it)
COUNT_LIMITS: list[tuple[str, Callable[[int, int], None], type[errors.HushanError]]] = [
    ("friends", rules.check_friend_limit, errors.FriendLimitReached),
    ("group members", groups.check_room, errors.GroupFull),
    ("devices", sync.check_device_room, errors.DeviceLimitReached),
]


@pytest.mark.parametrize(("name", "check", "limit", "error"), TEXT_LIMITS)
def test_a_text_at_its_limit_or_below_passes_and_one_above_is_refused(
    name: str, check: Callable[[str], object], limit: int, error: type[errors.HushanError]
) -> None:
    for length in (1, limit - 1, limit):
        assert check("x" * length) == "x" * length, (name, length)
    with pytest.raises(error):
        check("x" * (limit + 1))


@pytest.mark.parametrize(
    ("name", "check"),
    [(n, c) for n, c, _, _ in TEXT_LIMITS if n not in ("verification message", "message body")],
)
def test_a_label_may_not_be_empty(name: str, check: Callable[[str], object]) -> None:
    with pytest.raises(errors.InvalidInput):
        check("")


def test_a_verification_message_may_be_empty() -> None:
    assert rules.check_verification_message("", 200) == ""


@pytest.mark.parametrize(("name", "check", "error"), COUNT_LIMITS)
def test_a_count_below_its_limit_has_room_and_at_it_is_full(
    name: str, check: Callable[[int, int], None], error: type[errors.HushanError]
) -> None:
    for count in (0, 9):
        check(count, 10)
    for count in (10, 11):
        with pytest.raises(error):
            check(count, 10)


def test_a_relation_check_takes_up_to_its_limit_of_pairs() -> None:
    for count in (1, 999, 1000):
        rules.check_pair_batch(count, 1000)
    with pytest.raises(errors.TooManyPairs):
        rules.check_pair_batch(1001, 1000)


def test_the_refusal_past_a_length_says_the_length_and_the_limit() -> None:
    with pytest.raises(errors.VerificationTooLong) as caught:
        rules.check_verification_message("x" * 201, 200)
    assert "201" in caught.value.message and "200" in caught.value.message
    with pytest.raises(errors.MessageTooLong) as too_long:
        rules.check_message_body("x" * 11, 10)
    assert "11" in too_long.value.message and "10" in too_long.value.message

"""Notification keys (core/notices.py): every kind reads back as itself, and no
incident's ref can be read as a notice of the app's own, whatever its account is
named (issue 18: an account named "failed")."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from notifier.core.notices import NoticeKey, NoticeKind
from notifier.domain.model import make_ref
from notifier.domain.storm import SUMMARY_KEY

#: what config.toml accepts as an account name (settings_schema.Name)
account_names = st.text(
    st.characters(whitelist_categories=("Lu", "Ll", "Nd"), whitelist_characters="-_"), min_size=1
)
incident_ids = st.text(st.characters(blacklist_characters="\n\r\x00"), min_size=1)


@given(account_names, incident_ids)
def test_an_incident_key_is_the_ref_and_reads_back_as_that_incident(account, incident_id):
    ref = make_ref(account, incident_id)
    key = NoticeKey.incident(ref)
    assert key.encode() == ref
    assert NoticeKey.parse(ref) == key
    assert NoticeKey.parse(ref).opens == ref


@given(account_names)
def test_accounts_named_like_a_notice_kind_are_still_incidents(account):
    for kind in ("failed", "health", "problem", "error", "notifier", "summary", account):
        parsed = NoticeKey.parse(make_ref(kind, "12"))
        assert parsed.kind is NoticeKind.INCIDENT
        assert parsed.opens == make_ref(kind, "12")


@given(
    st.sampled_from([k for k in NoticeKind if k not in (NoticeKind.INCIDENT, NoticeKind.SUMMARY)]),
    st.text(st.characters(blacklist_characters="\n"), max_size=30),
    st.one_of(
        st.just(""),
        st.builds(make_ref, account_names, st.from_regex(r"[A-Z0-9]{1,8}", fullmatch=True)),
    ),
)
def test_every_own_notice_reads_back_as_itself(kind, subject, ref):
    key = NoticeKey(kind, subject, ref)
    text = key.encode()
    assert NoticeKey.parse(text) == key
    assert NoticeKey.parse(text).kind is not NoticeKind.INCIDENT


def test_the_summary_and_what_a_click_on_each_kind_opens():
    assert NoticeKey.parse(SUMMARY_KEY).kind is NoticeKind.SUMMARY
    assert NoticeKey(NoticeKind.SUMMARY).encode() == SUMMARY_KEY
    failed = NoticeKey(NoticeKind.FAILED, "5f2a", "failed:12")
    assert NoticeKey.parse(failed.encode()).opens == "failed:12"  # the incident acted on
    for kind in (NoticeKind.HEALTH, NoticeKind.PROBLEM, NoticeKind.ERROR, NoticeKind.RESTARTED):
        assert NoticeKey.parse(NoticeKey(kind, "work").encode()).opens == ""


def test_a_kind_of_a_newer_version_opens_the_window_and_nothing_else():
    parsed = NoticeKey.parse("@teleport:somewhere")
    assert parsed.kind is NoticeKind.ERROR
    assert parsed.opens == ""

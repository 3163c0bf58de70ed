"""Do Not Disturb and the sound output: what the user is told, and what the opt-in
unmute sets (issue 16, item 5). The probes and the tray are tested for real in
tests/desktop/test_desktop_conditions_e2e.py."""

from __future__ import annotations

from notifier.core.desktop_readiness import (
    Channel,
    DesktopState,
    OutputState,
    Quieting,
    alarm_raise,
    assess,
    parse_sinks,
)

STEREO = (Channel("front-left", 65536), Channel("front-right", 65536))
SILENT = (Channel("front-left", 0), Channel("front-right", 0))
SPEAKERS = OutputState("alsa_output.pci", "Built-in Audio", muted=False, channels=STEREO)

# what `LC_ALL=C pactl list sinks` printed on this image (PulseAudio 16), two sinks
PACTL_LIST_SINKS = """\
Sink #0
\tState: IDLE
\tName: oncall_test
\tDescription: oncall-test-sink
\tDriver: module-null-sink.c
\tMute: yes
\tVolume: front-left: 0 /   0% / -inf dB,   front-right: 32768 /  50% / -18.06 dB
\t        balance 1.00
\tBase Volume: 65536 / 100% / 0.00 dB
\tProperties:
\t\tdevice.description = "oncall-test-sink"
Sink #1
\tState: SUSPENDED
\tName: hdmi
\tDescription: HDMI: Monitor
\tMute: no
\tVolume: mono: 65536 / 100% / 0.00 dB
"""


def test_nothing_wrong_says_nothing() -> None:
    assert assess(DesktopState((), SPEAKERS), unmute_for_alarm=False) == []
    assert assess(DesktopState(), unmute_for_alarm=False) == []  # nothing known


def test_do_not_disturb_is_said_with_its_fix_but_does_not_degrade() -> None:
    [issue] = assess(DesktopState((Quieting.DUNST_PAUSED,), SPEAKERS), unmute_for_alarm=False)
    assert issue.key == "notifications"
    assert not issue.silences_alarm  # the alarm has its own stream
    assert issue.menu_line == (
        "🔕 Notifications hidden: dunst is paused; the alarm still rings. "
        "To see pages, resume it with `dunstctl set-paused false`"
    )


def test_several_sources_of_quiet_make_one_line_naming_each() -> None:
    state = DesktopState((Quieting.INHIBITED, Quieting.GNOME_BANNERS_OFF), None)
    [issue] = assess(state, unmute_for_alarm=False)
    assert "the desktop's Do Not Disturb is on and GNOME's Do Not Disturb is on" in issue.line
    assert "top bar's notification list" in issue.line


def test_a_muted_output_silences_the_alarm_unless_the_unmute_is_on() -> None:
    muted = OutputState("alsa_output.pci", "Built-in Audio", muted=True, channels=STEREO)
    [issue] = assess(DesktopState((), muted), unmute_for_alarm=False)
    assert issue.silences_alarm
    assert issue.menu_line.startswith("⚠ Sound output Built-in Audio is muted: the alarm cannot")
    assert "Settings > Sound > Unmute the output for the alarm" in issue.line
    [relaxed] = assess(DesktopState((), muted), unmute_for_alarm=True)
    assert not relaxed.silences_alarm
    assert relaxed.line == (
        "Sound output Built-in Audio is muted; the alarm will unmute it while it rings"
    )


def test_volume_zero_on_every_channel_is_as_silent_as_muted() -> None:
    at_zero = OutputState("s", "Speakers", channels=SILENT)
    [issue] = assess(DesktopState((), at_zero), unmute_for_alarm=False)
    assert "is at volume 0" in issue.line and issue.silences_alarm
    one_side = OutputState("s", "Speakers", channels=(SILENT[0], STEREO[1]))
    assert assess(DesktopState((), one_side), unmute_for_alarm=False) == []


def test_no_output_at_all_cannot_be_unmuted() -> None:
    for unmute in (False, True):
        [issue] = assess(DesktopState((), OutputState("")), unmute_for_alarm=unmute)
        assert issue.silences_alarm
        assert issue.line.startswith("No sound output: the alarm cannot be heard")


def test_notifications_come_first() -> None:
    muted = OutputState("s", muted=True, channels=STEREO)
    issues = assess(DesktopState((Quieting.DUNST_PAUSED,), muted), unmute_for_alarm=False)
    assert [i.key for i in issues] == ["notifications", "output"]


def test_the_alarm_raise_unmutes_and_lifts_only_silent_channels() -> None:
    assert alarm_raise(SPEAKERS) is None
    assert alarm_raise(None) is None
    assert alarm_raise(OutputState("")) is None
    quiet = (Channel("front-left", 0), Channel("front-right", 20000))
    assert alarm_raise(OutputState("s", muted=True, channels=quiet)) == (
        False,
        (Channel("front-left", 65536), Channel("front-right", 20000)),
    )
    assert alarm_raise(OutputState("s", muted=True, channels=STEREO)) == (False, STEREO)


def test_pactl_listing_is_parsed_per_sink() -> None:
    sinks = parse_sinks(PACTL_LIST_SINKS)
    assert set(sinks) == {"oncall_test", "hdmi"}
    test = sinks["oncall_test"]
    assert test.muted and test.label == "oncall-test-sink"
    assert test.channels == (Channel("front-left", 0), Channel("front-right", 32768))
    assert [c.percent for c in test.channels] == [0, 50]
    hdmi = sinks["hdmi"]
    assert not hdmi.muted and hdmi.channels == (Channel("mono", 65536),)
    assert parse_sinks("") == {}

"""The alarm sound.

Played with miniaudio (a C library in one small wheel for Linux, macOS and Windows:
about 1.6 MB, where QtMultimedia needed PySide6-Addons' 400 MB; issue 22). A sound
is decoded once into memory (16-bit mono, 44.1 kHz: WAV, FLAC, MP3 and Ogg Vorbis
decode), the output device is opened ahead of time and started only while a sound
plays: an idle player costs no wake-ups. miniaudio calls :meth:`AlarmPlayer._fill`
on its own audio thread for each period of samples (20 ms); the volume is applied
there, so a new volume or a restart is heard on the next period. The audio thread
only hands samples over and tells the Qt side through signals, which Qt queues to
the GUI thread: "the round ended", "the device stopped by itself".

Stopping must be silent at once and stay silent: a stopped (corked) PulseAudio
stream keeps what it was handed and plays it when started again, so :meth:`stop`
closes the device, discarding that, and opens a fresh one, ready for the next alarm
(measured: about 4 ms).

The device is opened, and the alarm decoded, by :meth:`AlarmPlayer.prepare`, not
when the player is made: the app prepares it as soon as its event loop runs, after
the tray icon is up, and again (a no-op by then) when the first incident arrives.
:meth:`AlarmPlayer.play` prepares too, as a last resort only.

The player never raises into the GUI: problems are logged and reported through
:attr:`AlarmPlayer.failed`; a missing or lost device also through
:attr:`AlarmPlayer.outputsChanged`, and then the player looks for a device again
every :data:`RETRY_MS` until one answers. When a user-chosen sound cannot be played,
the bundled one plays instead: a page must never be silent because of a bad setting.
"""

from __future__ import annotations

import array
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, QTimer, Signal, Slot

from notifier.system.paths import resource

if TYPE_CHECKING:
    from notifier.desktop.sound.output import PlaybackDevice

log = logging.getLogger("notifier.desktop.sound.player")

RATE = 44_100
PERIOD_MS = 20  # a new volume, a restart or a stop is heard within a few periods
#: while there is no output device, how often to look for one again
RETRY_MS = 10_000
#: while a sound plays, how often to check that the device still asks for samples
#: (every 20 ms when it works): a sound server that dies mid-play leaves miniaudio's
#: thread waiting, with no call. Lost after STALLED_CHECKS checks in a row without a
#: period: seconds, so that a loaded machine's scheduling is never taken for a loss
WATCHDOG_MS = 1_000
STALLED_CHECKS = 3
#: silent periods fed after a sound's end before the round counts as over: the
#: device's buffer (a few periods) still holds the sound's last milliseconds
TAIL_PERIODS = 4
NO_OUTPUT = (
    "No audio output device was found, so the alarm cannot sound. "
    "Check that the sound server (PulseAudio or PipeWire) is running."
)


def default_alarm_path() -> Path:
    return resource("sounds", "alarm.wav")


def default_chime_path() -> Path:
    return resource("sounds", "gentle.wav")


def _clamp(volume: float) -> float:
    try:
        value = float(volume)
    except (TypeError, ValueError):
        return 1.0
    if value != value:  # NaN
        return 1.0
    return min(1.0, max(0.0, value))


def decode(path: Path) -> array.array[int]:
    """``path`` as 16-bit mono samples at :data:`RATE`; raises ValueError when it is
    not a sound miniaudio decodes."""
    from notifier.desktop.sound.output import AudioError, decode_file

    try:
        return decode_file(path, RATE)
    except AudioError as exc:
        raise ValueError(f"{path}: {exc}") from exc


class _Voice:
    """One sound being played. The audio thread moves ``position``; the GUI thread
    replaces the whole voice, never edits one."""

    __slots__ = ("gain", "kind", "position", "samples", "tail")

    def __init__(self, kind: str, samples: array.array[int], volume: float) -> None:
        self.kind = kind
        self.samples = samples
        self.gain = round(volume * 32_768)  # fixed point: sample * gain >> 15
        self.position = 0
        self.tail = 0  # silent periods fed after the end


class _AudioThreadSignals(QObject):
    """Emitted on miniaudio's audio thread; this object lives in the GUI thread, so
    Qt queues the calls of connected slots there."""

    roundEnded = Signal(object)  # the _Voice that ended
    deviceStopped = Signal(object)  # the device that stopped


class AlarmPlayer(QObject):
    """Plays the alarm, one round per :meth:`play` call.

    The escalation engine decides when to ring and how loud; the caller calls
    :meth:`play` on each of its Alarm actions. Volumes are linear gains from 0 to 1
    applied to the sound (0.5 is about 6 dB quieter than 1.0), on top of the system
    volume. One sound plays at a time: the alarm replaces a chime or preview.

    Signals: ``started()`` when sound begins, ``stopped()`` when no sound of ours is
    playing any more (finished or stopped), ``failed(str)`` with a user-facing reason,
    ``outputsChanged()`` when the output device was lost or found (ask
    :meth:`available` again).
    """

    started = Signal()
    stopped = Signal()
    failed = Signal(str)
    outputsChanged = Signal()

    def __init__(
        self,
        parent: QObject | None = None,
        *,
        sound_path: Path | None = None,
        prepare: bool = True,
    ) -> None:
        """``prepare=False``: open the device and decode the alarm later, in :meth:`prepare`."""
        super().__init__(parent)
        self._prepared = False
        self._device: PlaybackDevice | None = None  # open; started while a sound plays
        self._device_name = ""
        self._device_problem = NO_OUTPUT
        self._decoded: dict[Path, array.array[int]] = {}
        self._voice: _Voice | None = None  # read by the audio thread
        self._sound_path = default_alarm_path()
        self._chime_path = default_chime_path()
        self._audio = _AudioThreadSignals(self)
        self._audio.roundEnded.connect(self._on_round_ended)
        self._audio.deviceStopped.connect(self._on_device_stopped)
        self._retry = QTimer(self)
        self._retry.setInterval(RETRY_MS)
        self._retry.timeout.connect(self._look_for_device)
        self._periods = 0  # periods fed by the audio thread: the watchdog's measure
        self._periods_seen = -1
        self._stalled = 0
        self._watchdog = QTimer(self)
        self._watchdog.setInterval(WATCHDOG_MS)
        self._watchdog.timeout.connect(self._check_progress)
        if sound_path is not None:
            self.sound_path = sound_path
        if prepare:
            self.prepare()

    # -- public API ------------------------------------------------------------------

    @property
    def prepared(self) -> bool:
        """Whether :meth:`prepare` has run: the output device opened (when there is
        one) and the alarm decoded."""
        return self._prepared

    def use_sounds(self, alarm: str, chime: str) -> None:
        """The configured alarm and chime files ("": the bundled ones)."""
        self.sound_path = alarm or None
        self.chime_path = chime or None

    def prepare(self) -> None:
        """Open the default output and decode the alarm and chime (once)."""
        if self._prepared:
            return
        self._prepared = True
        log.debug("preparing the alarm sound")
        self._decode_configured()
        if not self._open_device():
            self._retry.start()

    @property
    def sound_path(self) -> Path:
        """The sound played by :meth:`play`. Setting a path that does not exist keeps
        the current sound and emits ``failed``; one that does not decode falls back
        to the built-in alarm."""
        return self._sound_path

    @sound_path.setter
    def sound_path(self, path: Path | str | None) -> None:
        new = Path(path) if path else default_alarm_path()
        if new == self._sound_path:
            return
        if not new.is_file():
            self._fail(f"The alarm sound {new} does not exist; keeping {self._sound_path.name}.")
            return
        self._sound_path = new
        if self._prepared:
            self._decode_configured()

    @property
    def chime_path(self) -> Path:
        """The sound played by :meth:`chime`; like :attr:`sound_path`, a path that does
        not exist keeps the current one and emits ``failed``."""
        return self._chime_path

    @chime_path.setter
    def chime_path(self, path: Path | str | None) -> None:
        new = Path(path) if path else default_chime_path()
        if new == self._chime_path:
            return
        if not new.is_file():
            self._fail(f"The chime {new} does not exist; keeping {self._chime_path.name}.")
            return
        self._chime_path = new
        if self._prepared:
            self._decode_configured()

    def chime(self, volume: float = 1.0) -> None:
        """Play the chime once (the gentle step), unless the alarm is sounding."""
        try:
            self.prepare()
            voice = self._voice
            if voice is not None and voice.kind == "alarm":
                return
            self._play("chime", self._decoded_or_default("chime"), _clamp(volume))
        except Exception as exc:  # never into the GUI
            log.exception("could not play the chime")
            self._fail(f"Could not play the chime: {exc}")

    def play(self, volume: float = 1.0) -> None:
        """Play one round of the alarm now at ``volume`` (0..1); restarts if playing."""
        try:
            if not self._prepared:  # the app prepares long before; this is a last resort
                log.warning("the alarm sound was not prepared before the first alarm")
                self.prepare()
            self._play("alarm", self._decoded_or_default("alarm"), _clamp(volume))
        except Exception as exc:  # never into the GUI
            log.exception("could not play the alarm")
            self._fail(f"Could not play the alarm: {exc}")

    def preview(self, path: Path | str | None = None, volume: float = 1.0) -> None:
        """Play ``path`` (default: the current alarm sound) once, for the settings
        dialog. Does not change :attr:`sound_path`."""
        try:
            target = Path(path) if path else self._sound_path
            if not target.is_file():
                self._fail(f"The sound file {target} does not exist.")
                return
            self.prepare()
            try:
                samples = self._decoded.get(target) or decode(target)
            except ValueError:
                self._fail(f"The sound {target} could not be played (is it a sound file?).")
                return
            self._play("preview", samples, _clamp(volume))
        except Exception as exc:
            log.exception("could not preview %s", path)
            self._fail(f"Could not play {path}: {exc}")

    def stop(self) -> None:
        """Silence everything this player started, at once."""
        if self._voice is None:
            return
        self._voice = None
        self._watchdog.stop()
        # what the stream was handed but has not played must never play: a fresh device
        self._reopen_device()
        self.stopped.emit()

    def close(self) -> None:
        """Silence everything and release the output device (the player's end)."""
        self._voice = None
        self._watchdog.stop()
        self._retry.stop()
        self._close_device()

    def available(self) -> tuple[bool, str]:
        """``(True, device name)`` when the output device is open, else ``(False, what
        to do about it)``. Prepares the player."""
        self.prepare()
        if self._device is None:
            return False, self._device_problem
        return True, self._device_name

    # -- the device (GUI thread) ---------------------------------------------------------

    def _open_device(self) -> bool:
        """Open (not start) the default output. False, and the reason kept, when there
        is none."""
        from notifier.desktop.sound.output import AudioError, PlaybackDevice

        device: PlaybackDevice | None = None

        def device_stopped() -> None:  # on the audio thread: our stop, or the device lost
            self._audio.deviceStopped.emit(device)

        try:
            device = PlaybackDevice(
                rate=RATE,
                period_ms=PERIOD_MS,
                app_name="On-call Notifier",
                fill=self._fill,
                on_stop=device_stopped,
            )
        except AudioError as exc:
            log.info("no audio output: %s", exc)
            self._device_problem = NO_OUTPUT
            return False
        self._device = device
        self._device_name = device.default_output_name() or device.backend
        log.debug("audio output open: %s (%s)", self._device_name, device.backend)
        return True

    def _close_device(self) -> None:
        device, self._device = self._device, None
        if device is not None:
            device.close()

    def _reopen_device(self) -> None:
        self._close_device()
        if not self._open_device():
            self._device_lost()

    def _start_device(self) -> bool:
        from notifier.desktop.sound.output import AudioError

        for attempt in (1, 2):  # a failed start: perhaps the server restarted, one fresh try
            if self._device is None and not self._open_device():
                return False
            assert self._device is not None
            if self._device.running:
                return True
            try:
                self._device.start()
                return True
            except AudioError as exc:
                log.warning("the audio output did not start (attempt %d): %s", attempt, exc)
                self._close_device()
        return False

    def _device_lost(self, *, stuck: bool = False) -> None:
        if stuck:
            # a device whose server died mid-play can block its release (miniaudio
            # waits for its audio thread): release it off the GUI thread
            device, self._device = self._device, None
            if device is not None:
                threading.Thread(target=device.close, name="audio-release", daemon=True).start()
        self._close_device()
        self._device_problem = NO_OUTPUT
        log.warning("the audio output went away")
        self.outputsChanged.emit()
        self._retry.start()

    @Slot()
    def _look_for_device(self) -> None:
        if self._device is None and not self._open_device():
            return
        self._retry.stop()
        log.info("audio output found: %s", self._device_name)
        self.outputsChanged.emit()

    # -- playing -----------------------------------------------------------------------

    def _decode_configured(self) -> None:
        """Decode the alarm and chime now, so the first page plays without delay; a
        configured sound that does not decode gives way to the built-in one."""
        for kind in ("alarm", "chime"):
            path = self._sound_path if kind == "alarm" else self._chime_path
            if path in self._decoded:
                continue
            try:
                self._decoded[path] = decode(path)
            except ValueError as exc:
                log.error("cannot play %s: %s", path, exc)
                self._give_way(kind, path)

    def _give_way(self, kind: str, path: Path) -> None:
        if kind == "alarm":
            self._fail(
                f"The alarm sound {path} could not be played (is it a sound file?); "
                "using the built-in alarm instead."
            )
            self._sound_path = default_alarm_path()
        else:
            self._fail(
                f"The chime {path} could not be played (is it a sound file?); "
                "using the built-in chime instead."
            )
            self._chime_path = default_chime_path()
        builtin = self._sound_path if kind == "alarm" else self._chime_path
        self._decoded.setdefault(builtin, decode(builtin))

    def _decoded_or_default(self, kind: str) -> array.array[int]:
        self._decode_configured()
        return self._decoded[self._sound_path if kind == "alarm" else self._chime_path]

    def _play(self, kind: str, samples: array.array[int], volume: float) -> None:
        was_playing = self._voice is not None
        self._voice = _Voice(kind, samples, volume)  # a restart: the next period has it
        if not self._start_device():
            self._voice = None
            self._device_lost()
            self._fail(self._device_problem)
            if was_playing:
                self.stopped.emit()
            return
        log.debug("playing the %s at volume %.2f", kind, volume)
        if not was_playing:
            self._periods_seen, self._stalled = -1, 0
            self._watchdog.start()
            self.started.emit()

    def _fill(self, frames: int) -> bytes | array.array[int]:
        """The samples of one period: runs on miniaudio's audio thread."""
        self._periods += 1
        voice = self._voice
        if voice is None:
            return bytes(2 * frames)
        start = voice.position
        chunk = voice.samples[start : start + frames]
        voice.position = start + len(chunk)
        if voice.gain < 32_768:
            gain = voice.gain
            chunk = array.array("h", [sample * gain >> 15 for sample in chunk])
        if len(chunk) < frames:
            chunk.frombytes(bytes(2 * (frames - len(chunk))))
            voice.tail += 1
            if voice.tail == TAIL_PERIODS:
                self._audio.roundEnded.emit(voice)
        return chunk

    @Slot(object)
    def _on_round_ended(self, voice: _Voice) -> None:
        if voice is self._voice:  # not restarted or stopped since
            self.stop()

    @Slot()
    def _check_progress(self) -> None:
        if self._voice is None:
            self._watchdog.stop()
        elif self._periods != self._periods_seen:
            self._stalled = 0
        else:
            self._stalled += 1
            if self._stalled >= STALLED_CHECKS:
                self._on_device_stopped(self._device)
        self._periods_seen = self._periods

    @Slot(object)
    def _on_device_stopped(self, device: PlaybackDevice | None) -> None:
        if device is not self._device:
            return  # one we closed
        log.error("the audio output stopped while in use")
        playing = self._voice is not None
        self._voice = None
        self._watchdog.stop()
        self._device_lost(stuck=True)
        self._fail("The audio output stopped; the alarm cannot sound until it is back.")
        if playing:
            self.stopped.emit()

    def _fail(self, reason: str) -> None:
        log.warning("%s", reason)
        self.failed.emit(reason)

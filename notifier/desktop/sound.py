"""The alarm sound.

Plays WAV files with ``QSoundEffect``: it decodes the file once into memory, starts
with low latency and stops at once, which is what a repeating alarm needs. (Measured
on PulseAudio: ``stop()`` leaves at most a few milliseconds of tail;
``QMediaPlayer`` + ``QAudioOutput`` also played, but starts later and goes through
FFmpeg for a file we already have as PCM.) QSoundEffect only plays uncompressed WAV,
so a user-chosen sound must be a WAV file.

QtMultimedia (and with it the connection to the sound server) is loaded by
:meth:`AlarmPlayer.prepare`, not when the player is made, and without its media
backend plugin (see :func:`load_audio_only`): the app prepares it as soon
as its event loop runs, after the tray icon is up, and again (a no-op by then) when
the first incident arrives, so the alarm is decoded and the device open long before
any alarm is due. :meth:`AlarmPlayer.play` prepares too, as a last resort only.

The player never raises into the GUI: problems are logged and reported through
:attr:`AlarmPlayer.failed`. When a user-chosen sound cannot be played, the bundled
alarm plays instead: a page must never be silent because of a bad setting.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QCoreApplication, QObject, QUrl, Signal, Slot

from notifier.paths import resource

if TYPE_CHECKING:
    from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

log = logging.getLogger("notifier.desktop.sound")


def default_alarm_path() -> Path:
    return resource("sounds", "alarm.wav")


def default_chime_path() -> Path:
    return resource("sounds", "gentle.wav")


#: what Qt says when it starts QtMultimedia without a backend, as load_audio_only does
NO_BACKEND_MESSAGE = "No QtMultimedia backends found"
_audio_only_loaded = False


def load_audio_only() -> None:
    """Start QtMultimedia with its audio part only, without a media backend plugin.

    Qt loads a backend plugin (on Linux the FFmpeg one, which brings libavcodec,
    libavformat, QtQuick and QtQml: about 13 MiB resident) the first time anything of
    QtMultimedia is used, QSoundEffect included. The audio classes do not need it:
    since Qt 6.7, with no backend found, "only QMediaDevices, QAudioDevice,
    QSoundEffect, QAudioSink, and QAudioSource are available" (Qt's own words), and
    they are all this player uses (QSoundEffect decodes WAV itself). So the plugin
    search path is empty for the moment QtMultimedia picks its backend, then put back.
    Once per process and before any other use of QtMultimedia; a no-op after that
    (Qt keeps the backend it chose), and on other systems than Linux, where this has
    not been measured."""
    global _audio_only_loaded
    import sys

    if _audio_only_loaded or not sys.platform.startswith("linux"):
        return
    _audio_only_loaded = True
    from PySide6.QtMultimedia import QMediaDevices

    paths = QCoreApplication.libraryPaths()
    QCoreApplication.setLibraryPaths([])
    try:
        QMediaDevices.audioOutputs()  # makes Qt choose its backend: none
    finally:
        QCoreApplication.setLibraryPaths(paths)


def _clamp(volume: float) -> float:
    try:
        value = float(volume)
    except (TypeError, ValueError):
        return 1.0
    if value != value:  # NaN
        return 1.0
    return min(1.0, max(0.0, value))


class AlarmPlayer(QObject):
    """Plays the alarm, one round per :meth:`play` call.

    The escalation engine decides when to ring and how loud; the caller calls
    :meth:`play` on each of its Alarm actions. Volumes are linear gains from 0 to 1
    applied to the sound (0.5 is about 6 dB quieter than 1.0), on top of the system
    volume.

    Signals: ``started()`` when sound begins, ``stopped()`` when no sound of ours is
    playing any more (finished or stopped), ``failed(str)`` with a user-facing reason,
    ``outputsChanged()`` when audio outputs come or go (ask :meth:`available` again).
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
        """``prepare=False``: load QtMultimedia and the alarm later, in :meth:`prepare`."""
        super().__init__(parent)
        self._devices: QMediaDevices | None = None
        self._effects: list[QSoundEffect] = []
        self._sound_path = default_alarm_path()
        self._chime_path = default_chime_path()
        self._pending_volume: float | None = None  # play once the sound has loaded
        self._playing = False
        self._restarting = False
        if sound_path is not None:
            self.sound_path = sound_path
        if prepare:
            self.prepare()

    # -- public API ------------------------------------------------------------------

    @property
    def prepared(self) -> bool:
        """Whether :meth:`prepare` has run: QtMultimedia loaded, the default output
        followed, the alarm loading (or loaded) when there is an output."""
        return self._devices is not None

    def alarm_loaded(self) -> bool:
        """Whether the alarm is decoded in memory, ready to sound at once."""
        if self._devices is None:
            return False
        from PySide6.QtMultimedia import QSoundEffect

        return self._alarm.status() == QSoundEffect.Status.Ready

    def use_sounds(self, alarm: str, chime: str) -> None:
        """The configured alarm and chime files ("": the bundled ones)."""
        self.sound_path = alarm or None
        self.chime_path = chime or None

    def prepare(self) -> None:
        """Load QtMultimedia, open the default output and decode the alarm (once)."""
        if self._devices is not None:
            return
        from PySide6.QtMultimedia import QMediaDevices

        log.debug("preparing the alarm sound")
        load_audio_only()
        self._devices = QMediaDevices(self)
        self._devices.audioOutputsChanged.connect(self._follow_default_output)
        self._alarm = self._new_effect()
        self._preview = self._new_effect()
        self._chime = self._new_effect()
        self._effects = [self._alarm, self._preview, self._chime]
        self._preload()

    @property
    def sound_path(self) -> Path:
        """The WAV played by :meth:`play`. Setting a path that does not exist keeps
        the current sound and emits ``failed``."""
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
        if self._devices is not None:
            self._alarm.stop()
            self._preload()

    @property
    def chime_path(self) -> Path:
        """The WAV played by :meth:`chime`; like :attr:`sound_path`, a path that does
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
        if self._devices is not None:
            self._chime.stop()
            self._preload()

    def chime(self, volume: float = 1.0) -> None:
        """Play the chime once (the gentle step), unless the alarm is sounding."""
        try:
            self.prepare()
            if self._alarm.isPlaying():
                return
            self._play(self._chime, self._chime_path, _clamp(volume))
        except Exception as exc:  # never into the GUI
            log.exception("could not play the chime")
            self._fail(f"Could not play the chime: {exc}")

    def play(self, volume: float = 1.0) -> None:
        """Play one round of the alarm now at ``volume`` (0..1); restarts if playing."""
        try:
            if self._devices is None:  # the app prepares long before; this is a last resort
                log.warning("the alarm sound was not prepared before the first alarm")
                self.prepare()
            self._play(self._alarm, self._sound_path, _clamp(volume))
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
            self._preview.stop()
            self._play(self._preview, target, _clamp(volume))
        except Exception as exc:
            log.exception("could not preview %s", path)
            self._fail(f"Could not play {path}: {exc}")

    def stop(self) -> None:
        """Silence everything this player started."""
        self._pending_volume = None
        for effect in self._effects:
            effect.stop()
        self._update_playing()

    def is_playing(self) -> bool:
        return any(effect.isPlaying() for effect in self._effects)

    def available(self) -> tuple[bool, str]:
        """``(True, device description)`` when there is an audio output, else
        ``(False, what to do about it)``. Prepares the player."""
        self.prepare()
        from PySide6.QtMultimedia import QMediaDevices

        if not QMediaDevices.audioOutputs():
            return (
                False,
                "No audio output device was found, so the alarm cannot sound. "
                "Check that the sound server (PulseAudio or PipeWire) is running.",
            )
        return True, QMediaDevices.defaultAudioOutput().description()

    # -- internals -------------------------------------------------------------------

    def _new_effect(self) -> QSoundEffect:
        from PySide6.QtMultimedia import QMediaDevices, QSoundEffect

        effect = QSoundEffect(QMediaDevices.defaultAudioOutput(), self)
        effect.setLoopCount(1)
        # Bound methods of this QObject, not lambdas: Qt then queues signals that the
        # decoder or audio thread emits, and the slots run in the GUI thread.
        effect.playingChanged.connect(self._update_playing)
        effect.statusChanged.connect(self._on_status_changed)
        return effect

    @staticmethod
    def _source_path(effect: QSoundEffect) -> Path | None:
        url = effect.source()
        return Path(url.toLocalFile()) if url.isLocalFile() else None

    def _preload(self) -> None:
        """Decode the alarm now, so the first page plays without delay. Without an
        output device QSoundEffect fails every file, so wait for one."""
        if self.available()[0]:
            self._load(self._alarm, self._sound_path)
            self._load(self._chime, self._chime_path)

    def _load(self, effect: QSoundEffect, path: Path) -> None:
        """(Re)load ``path`` unless it is already loaded or loading."""
        from PySide6.QtMultimedia import QSoundEffect

        url = QUrl.fromLocalFile(str(path))
        if effect.source() == url and effect.status() != QSoundEffect.Status.Error:
            return
        if effect.source() == url:
            effect.setSource(QUrl())  # setting the same URL again would be ignored
        log.debug("loading %s", path)
        effect.setSource(url)

    def _play(self, effect: QSoundEffect, path: Path, volume: float) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        ok, reason = self.available()
        if not ok:
            self._fail(reason)
            return
        self._load(effect, path)
        effect.setVolume(volume)
        if effect is self._alarm and effect.status() != QSoundEffect.Status.Ready:
            # QSoundEffect queues the play until loaded; remember the volume to play
            # the bundled alarm instead if this (user-chosen) sound fails to load.
            self._pending_volume = volume
        if effect.isPlaying():
            self._restarting = True  # no stopped/started blip for a restart
            try:
                effect.stop()
            finally:
                self._restarting = False
        log.debug("playing %s at volume %.2f", self._source_path(effect), volume)
        effect.play()

    @Slot()
    def _on_status_changed(self) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        effect = self.sender()
        if isinstance(effect, QSoundEffect):
            self._on_status(effect)

    def _on_status(self, effect: QSoundEffect) -> None:
        from PySide6.QtMultimedia import QSoundEffect

        status = effect.status()
        if status == QSoundEffect.Status.Ready and effect is self._alarm:
            self._pending_volume = None
        if status != QSoundEffect.Status.Error:
            return
        path = self._source_path(effect)
        log.error("cannot play %s (QSoundEffect status Error)", path)
        ok, reason = self.available()
        if not ok:  # QSoundEffect fails any file without a device
            self._pending_volume = None
            self._fail(reason)
            return
        if effect is self._alarm and path != default_alarm_path():
            self._fail(
                f"The alarm sound {path} could not be played (is it a PCM WAV file?); "
                "using the built-in alarm instead."
            )
            self._sound_path = default_alarm_path()
            volume = self._pending_volume
            self._load(self._alarm, self._sound_path)
            if volume is not None:
                self._alarm.setVolume(volume)
                self._alarm.play()  # queued by QSoundEffect until loaded
        elif effect is self._chime and path != default_chime_path():
            self._fail(
                f"The chime {path} could not be played (is it a PCM WAV file?); "
                "using the built-in chime instead."
            )
            self._chime_path = default_chime_path()
            self._load(self._chime, self._chime_path)
        else:
            self._pending_volume = None
            self._fail(f"The sound {path} could not be played (is it a PCM WAV file?).")

    @Slot()
    def _update_playing(self) -> None:
        if self._restarting:
            return
        playing = self.is_playing()
        if playing == self._playing:
            return
        self._playing = playing
        (self.started if playing else self.stopped).emit()

    @Slot()
    def _follow_default_output(self) -> None:
        from PySide6.QtMultimedia import QMediaDevices

        device = QMediaDevices.defaultAudioOutput()
        log.info("audio outputs changed; default is now %r", device.description())
        for effect in self._effects:
            effect.setAudioDevice(device)
        self._preload()  # e.g. the sound server started after us
        self.outputsChanged.emit()

    def _fail(self, reason: str) -> None:
        log.warning("%s", reason)
        self.failed.emit(reason)

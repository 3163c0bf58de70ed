"""A sound output and a decoder, straight on miniaudio's C library.

The ``miniaudio`` package's Python module imports ``urllib.request`` for its internet
radio client (with it ``ssl``, OpenSSL and ``http.client``: about 70 ms and 4 MiB an
idle tray does not need), so this module talks to its compiled part, ``_miniaudio``
(cffi: ``ffi`` and ``lib``), itself. The two callbacks the C library calls on its
audio thread are the ones ``miniaudio`` declares (``extern "Python"``); they are
attached here the same way the ``miniaudio`` module attaches its own (a handle to
the device object in ``pUserData``), so either attachment serves both.
"""

from __future__ import annotations

import array
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _miniaudio import ffi, lib

log = logging.getLogger("notifier.desktop.sound.player")


#: every device not yet closed. Its C struct (``ffi.new``) lives as long as the Python
#: object, and miniaudio's thread waits on events inside it: a device collected before
#: :meth:`PlaybackDevice.close` would leave that thread on freed memory (seen as a
#: later device's release hanging). Kept here, an unclosed device only leaks.
_OPEN: set[PlaybackDevice] = set()


class AudioError(Exception):
    """The sound server or device refused; ``str()`` says what, for the log."""


@ffi.def_extern(name="_internal_data_callback")  # type: ignore[untyped-decorator]
def _data_callback(device: Any, output: Any, _input: Any, frames: int) -> None:
    if frames > 0 and device.pUserData:
        ffi.from_handle(device.pUserData)._data_callback(device, output, _input, frames)


@ffi.def_extern(name="_internal_stop_callback")  # type: ignore[untyped-decorator]
def _stop_callback(device: Any) -> None:
    if device.pUserData:
        ffi.from_handle(device.pUserData)._stop_callback(device)


def backends() -> list[int]:
    """Sound servers first (PipeWire answers as PulseAudio); never miniaudio's "null"
    backend, which would accept the alarm and play it to nobody."""
    if sys.platform.startswith("linux"):
        # ALSA only with a sound card: without one it can only fail, and libasound says
        # so on stderr, line after line, at every look for a device
        alsa = [lib.ma_backend_alsa] if os.path.exists("/dev/snd") else []
        # (not JACK: miniaudio's JACK backend crashed here with no JACK server)
        return [lib.ma_backend_pulseaudio, *alsa]
    if sys.platform == "darwin":
        return [lib.ma_backend_coreaudio]
    if sys.platform == "win32":
        return [lib.ma_backend_wasapi, lib.ma_backend_dsound, lib.ma_backend_winmm]
    return [lib.ma_backend_pulseaudio, lib.ma_backend_alsa, lib.ma_backend_oss]


def decode_file(path: Path, rate: int) -> array.array[int]:
    """``path`` (WAV, FLAC, MP3, Ogg Vorbis) as 16-bit mono samples at ``rate``."""
    frames, memory = ffi.new("ma_uint64 *"), ffi.new("void **")
    config = lib.ma_decoder_config_init(lib.ma_format_s16, 1, rate)
    result = lib.ma_decode_file(str(path).encode(), ffi.addressof(config), frames, memory)
    if result != lib.MA_SUCCESS:
        raise AudioError(f"miniaudio cannot decode it (error {result})")
    try:
        samples = array.array("h")
        samples.frombytes(ffi.buffer(memory[0], frames[0] * 2))
        return samples
    finally:
        lib.ma_free(memory[0], ffi.NULL)


class PlaybackDevice:
    """An open 16-bit mono output on the default device. :meth:`start` makes miniaudio
    call ``fill(frames)`` on its audio thread for each period until :meth:`stop`; it
    must return exactly ``2 * frames`` bytes. ``on_stop`` is called on that thread
    when the device stops: after :meth:`stop`, or by itself (the device went away)."""

    def __init__(
        self,
        *,
        rate: int,
        period_ms: int,
        app_name: str,
        fill: Callable[[int], bytes | array.array[int]],
        on_stop: Callable[[], None],
    ) -> None:
        self._fill, self._on_stop = fill, on_stop
        self._handle = ffi.new_handle(self)
        self._context = ffi.new("ma_context *")
        self._device: Any = None
        context_config = lib.ma_context_config_init()
        self._app_name = ffi.new("char[]", app_name.encode())  # kept alive with the context
        context_config.pulse.pApplicationName = self._app_name
        wanted = backends()
        result = lib.ma_context_init(
            ffi.new("ma_backend[]", wanted),
            len(wanted),
            ffi.addressof(context_config),
            self._context,
        )
        if result != lib.MA_SUCCESS:
            raise AudioError(f"no sound server or sound card answers (error {result})")
        config = lib.ma_device_config_init(lib.ma_device_type_playback)
        config.sampleRate = rate
        config.playback.channels = 1
        config.playback.format = lib.ma_format_s16
        config.periodSizeInMilliseconds = period_ms
        config.pUserData = self._handle
        config.dataCallback = lib._internal_data_callback
        config.stopCallback = lib._internal_stop_callback
        device = ffi.new("ma_device *")
        result = lib.ma_device_init(self._context, ffi.addressof(config), device)
        if result != lib.MA_SUCCESS:
            lib.ma_context_uninit(self._context)
            raise AudioError(f"the default output does not open (error {result})")
        self._device = device
        _OPEN.add(self)
        self.backend = ffi.string(lib.ma_get_backend_name(self._context[0].backend)).decode()
        self.running = False

    def default_output_name(self) -> str:
        """The default output's name as the sound server describes it ("" if unknown)."""
        infos, count = ffi.new("ma_device_info **"), ffi.new("ma_uint32 *")
        if lib.ma_context_get_devices(self._context, infos, count, ffi.NULL, ffi.NULL) != 0:
            return ""
        outputs = [infos[0][i] for i in range(count[0])]
        for info in outputs:
            if info.isDefault or len(outputs) == 1:
                return str(ffi.string(info.name).decode("utf-8", "replace"))
        return ""

    def start(self) -> None:
        result = lib.ma_device_start(self._device)
        if result != lib.MA_SUCCESS:
            raise AudioError(f"the output does not start (error {result})")
        self.running = True

    def close(self) -> None:
        """Stop (``on_stop`` is not called) and release the device and its context.
        Waits for the audio thread's current period: not from that thread."""
        if self._device is None:
            return
        self._on_stop = lambda: None
        device, self._device = self._device, None
        lib.ma_device_uninit(device)  # stops it first
        lib.ma_context_uninit(self._context)
        self.running = False
        _OPEN.discard(self)

    # called by the C library on its audio thread

    def _data_callback(self, _device: Any, output: Any, _input: Any, frames: int) -> None:
        try:
            data = self._fill(frames)
            ffi.memmove(output, data, min(len(data) * _itemsize(data), 2 * frames))
        except Exception:  # the C thread has no one to raise to: silence, and say why
            log.exception("the alarm's samples could not be made")

    def _stop_callback(self, _device: Any) -> None:
        self.running = False
        self._on_stop()


def _itemsize(data: bytes | array.array[int]) -> int:
    return data.itemsize if isinstance(data, array.array) else 1

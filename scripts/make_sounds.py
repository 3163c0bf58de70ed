"""Synthesise the bundled sounds with the standard library only.

Writes ``resources/sounds/alarm.wav``, ``gentle.wav`` and ``test.wav`` (44.1 kHz,
16-bit, mono). The output is deterministic: running the script twice gives
byte-identical files, so the committed WAVs can be checked against it in CI::

    python scripts/make_sounds.py            # (re)write the files
    python scripts/make_sounds.py --check    # exit 1 if the committed files differ
"""

from __future__ import annotations

import argparse
import io
import math
import struct
import sys
import wave
from collections.abc import Callable, Iterable
from pathlib import Path

RATE = 44_100
FULL_SCALE = 32_767
SOUNDS_DIR = Path(__file__).resolve().parent.parent / "resources" / "sounds"

Samples = list[float]


def silence(seconds: float) -> Samples:
    return [0.0] * round(seconds * RATE)


def tone(
    freq: float,
    seconds: float,
    *,
    harmonics: Iterable[tuple[int, float]] = ((1, 1.0),),
    envelope: Callable[[float, float], float] | None = None,
) -> Samples:
    """A tone made of ``(multiple, amplitude)`` partials, shaped by ``envelope(t, length)``.

    Partials above the Nyquist frequency are dropped so nothing aliases."""
    partials = [(m, a) for m, a in harmonics if freq * m < RATE / 2]
    n = round(seconds * RATE)
    out: Samples = []
    for i in range(n):
        t = i / RATE
        value = sum(a * math.sin(2 * math.pi * freq * m * t) for m, a in partials)
        out.append(value * (envelope(t, seconds) if envelope else 1.0))
    return out


def ramped(attack: float, release: float) -> Callable[[float, float], float]:
    """Flat envelope with short linear ramps: no clicks at the edges of a beep."""

    def envelope(t: float, length: float) -> float:
        return min(1.0, t / attack, (length - t) / release)

    return envelope


def chime(decay: float, attack: float = 0.004) -> Callable[[float, float], float]:
    """Soft bell: a short attack, then an exponential decay to silence at the end."""

    def envelope(t: float, length: float) -> float:
        fade_out = min(1.0, (length - t) / 0.03)
        return min(1.0, t / attack) * math.exp(-t / decay) * fade_out

    return envelope


def mix(*tracks: tuple[float, Samples]) -> Samples:
    """Overlay tracks that start at the given offsets (seconds)."""
    length = max(round(start * RATE) + len(samples) for start, samples in tracks)
    out = [0.0] * length
    for start, samples in tracks:
        first = round(start * RATE)
        for i, value in enumerate(samples):
            out[first + i] += value
    return out


def normalise(samples: Samples, peak: float) -> Samples:
    """Scale so the loudest sample sits at ``peak`` (0..1 of full scale)."""
    loudest = max(abs(s) for s in samples)
    return [s * peak / loudest for s in samples]


def alarm() -> Samples:
    """About 2 s of a two-tone "hi-lo" pattern, like an emergency vehicle but faster.

    Each beep is a square-ish wave (odd harmonics) so it cuts through background
    noise and small laptop speakers; the pitches (988 and 740 Hz, B5/F#5) sit where
    hearing is sensitive. Gaps are short so the level stays high throughout a round,
    and the round ends in a gap so back-to-back rounds keep the rhythm."""
    square_ish = ((1, 1.0), (3, 1 / 3), (5, 1 / 5), (7, 1 / 7))
    beep = ramped(attack=0.006, release=0.012)
    out: Samples = []
    for _ in range(4):
        out += tone(988.0, 0.19, harmonics=square_ish, envelope=beep)
        out += silence(0.04)
        out += tone(740.0, 0.19, harmonics=square_ish, envelope=beep)
        out += silence(0.08)
    return normalise(out, peak=0.89)  # -1 dBFS: near full scale, never clips


def gentle() -> Samples:
    """A soft two-note chime, about 0.6 s: the first-stage, non-alarming cue."""
    bell = ((1, 1.0), (2, 0.25), (3, 0.08))
    first = tone(1318.5, 0.45, harmonics=bell, envelope=chime(decay=0.12))  # E6
    second = tone(1046.5, 0.48, harmonics=bell, envelope=chime(decay=0.14))  # C6
    return normalise(mix((0.0, first), (0.12, second)), peak=0.35)  # about -9 dBFS


def test_tone() -> Samples:
    """One second of a steady 1 kHz sine at -6 dBFS, for checking an output device."""
    return normalise(tone(1000.0, 1.0, envelope=ramped(attack=0.01, release=0.01)), peak=0.5)


def encode(samples: Samples) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        frames = b"".join(
            struct.pack("<h", max(-FULL_SCALE, min(FULL_SCALE, round(s * FULL_SCALE))))
            for s in samples
        )
        wav.writeframes(frames)
    return buffer.getvalue()


SOUNDS: dict[str, Callable[[], Samples]] = {
    "alarm.wav": alarm,
    "gentle.wav": gentle,
    "test.wav": test_tone,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", type=Path, default=SOUNDS_DIR, help="output folder")
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    stale = []
    for name, make in SOUNDS.items():
        data = encode(make())
        path = args.out / name
        if args.check:
            if not path.is_file() or path.read_bytes() != data:
                stale.append(name)
            continue
        path.write_bytes(data)
        print(f"wrote {path} ({len(data)} bytes)")
    if stale:
        print(f"out of date: {', '.join(stale)}; run scripts/make_sounds.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

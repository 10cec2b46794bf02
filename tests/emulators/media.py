"""Small real media the provider emulators serve: a PNG gradient, an MP4 clip and a WAV tone."""

from __future__ import annotations

import io


def make_png(width: int = 64, height: int = 48) -> bytes:
    """A small real PNG (a gradient), made with Pillow."""
    from PIL import Image

    img = Image.new("RGB", (width, height))
    img.putdata([(x * 4 % 256, y * 5 % 256, 128) for y in range(height) for x in range(width)])
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def make_mp4(frames: int = 6, size: int = 64) -> bytes:
    """A small real MP4 (H.264, as the providers deliver and browsers play), made with PyAV."""
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            pixels = np.full((size, size, 3), (i * 30) % 256, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def make_wav(seconds: float = 0.5, rate: int = 16000) -> bytes:
    """A small real WAV (a 440 Hz tone, 16-bit mono), made with the standard library."""
    import math
    import struct
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
        wav.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()

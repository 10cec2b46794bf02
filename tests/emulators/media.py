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


def fit_png(data: bytes, width: int, height: int) -> bytes:
    """An image scaled to cover `width`x`height` and centre-cropped to it, as PNG (a render "of" it)."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as img:
        fitted = ImageOps.fit(img.convert("RGB"), (width, height))
    out = io.BytesIO()
    fitted.save(out, format="PNG")
    return out.getvalue()


def wav_seconds(data: bytes) -> float:
    """The length of WAV bytes in seconds."""
    import wave

    with wave.open(io.BytesIO(data)) as wav:
        return wav.getnframes() / wav.getframerate()


def make_talking_mp4(image: bytes, wav: bytes, fps: int = 12) -> bytes:
    """An MP4 of the image with a slight push-in, as long as the speech, carrying the speech as AAC.

    512 px a side, so a portrait's face stays large enough to be found in every frame.
    """
    side = 512
    import wave

    import av
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(image)) as img:
        still = img.convert("RGB").resize((side, side))
    with wave.open(io.BytesIO(wav)) as source:
        rate, channels = source.getframerate(), source.getnchannels()
        pcm = np.frombuffer(source.readframes(source.getnframes()), dtype="<i2").reshape(-1, channels)
    frames = max(1, round(len(pcm) / rate * fps))
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        video = container.add_stream("mpeg4", rate=fps)
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        audio = container.add_stream("aac", rate=rate)
        audio.layout = "mono" if channels == 1 else "stereo"
        for i in range(frames):
            inset = i * 16 // frames  # a slow push-in, so frames differ
            frame = still.crop((inset, inset, side - inset, side - inset)).resize((side, side))
            for packet in video.encode(av.VideoFrame.from_ndarray(np.asarray(frame), format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        samples = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(pcm.reshape(1, -1)), format="s16", layout=audio.layout.name
        )
        samples.sample_rate = rate
        for packet in audio.encode(samples):
            container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return out.getvalue()


def make_swapped_mp4(face: bytes, target: bytes, side: int = 512) -> bytes:
    """An MP4 with the target clip's frame count and rate whose every frame shows the face photo."""
    import av
    import numpy as np
    from PIL import Image, ImageOps

    with av.open(io.BytesIO(target)) as source:
        stream = source.streams.video[0]
        rate = stream.average_rate or 24
        frames = sum(1 for _ in source.decode(stream))
    with Image.open(io.BytesIO(face)) as img:
        pixels = np.asarray(ImageOps.fit(img.convert("RGB"), (side, side)))
    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        video = container.add_stream("mpeg4", rate=rate)
        video.width = video.height = side
        video.pix_fmt = "yuv420p"
        for _ in range(frames):
            for packet in video.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
    return out.getvalue()

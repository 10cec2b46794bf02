"""ITU-R BS.1770-4 loudness (K-weighting, gated integrated LUFS), true peak and normalisation (numpy/scipy).

Implemented here rather than through ``pyloudnorm`` so the pack adds no dependency: scipy (a ComfyUI core
requirement) supplies the IIR filter and polyphase resampling. The normaliser applies one gain to reach the
target integrated loudness and, where that pushes the 4x-oversampled true peak over the ceiling, a
look-ahead peak limiter built from a max filter and a moving average (vectorised; no per-sample loop).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d
from scipy.signal import lfilter, resample_poly

__all__ = ["integrated_loudness", "k_weighting", "normalize_loudness", "true_peak_db"]

# Analogue prototype of the BS.1770 pre-filter (high shelf) and RLB filter (high pass).
SHELF_F0, SHELF_GAIN_DB, SHELF_Q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
HIGHPASS_F0, HIGHPASS_Q = 38.13547087602444, 0.5003270373238773
BLOCK_S, STEP_S = 0.4, 0.1
ABSOLUTE_GATE, RELATIVE_GATE = -70.0, -10.0


def k_weighting(rate: int) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads ``((b, a) shelf, (b, a) high-pass)`` for a sample rate."""
    k = math.tan(math.pi * SHELF_F0 / rate)
    vh = 10 ** (SHELF_GAIN_DB / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / SHELF_Q + k * k
    shelf_b = np.array([vh + vb * k / SHELF_Q + k * k, 2 * (k * k - vh), vh - vb * k / SHELF_Q + k * k]) / a0
    shelf_a = np.array([a0, 2 * (k * k - 1), 1 - k / SHELF_Q + k * k]) / a0
    k = math.tan(math.pi * HIGHPASS_F0 / rate)
    a0 = 1 + k / HIGHPASS_Q + k * k
    hp_b = np.array([1.0, -2.0, 1.0])
    hp_a = np.array([a0, 2 * (k * k - 1), 1 - k / HIGHPASS_Q + k * k]) / a0
    return (shelf_b, shelf_a), (hp_b, hp_a)


def integrated_loudness(samples: np.ndarray, rate: int) -> float:
    """Gated integrated loudness (LUFS) of ``[channels, samples]`` audio; L/R/C weigh 1, silence is -inf."""
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    (sb, sa), (hb, ha) = k_weighting(rate)
    weighted = lfilter(hb, ha, lfilter(sb, sa, x, axis=-1), axis=-1)
    block, step = round(BLOCK_S * rate), round(STEP_S * rate)
    if weighted.shape[-1] < block:
        return float("-inf")
    count = 1 + (weighted.shape[-1] - block) // step
    csum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(weighted**2, axis=-1)], axis=-1)
    starts = np.arange(count) * step
    power = ((csum[:, starts + block] - csum[:, starts]) / block).sum(0)  # [blocks], summed over channels
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(power)
    gated = power[loudness > ABSOLUTE_GATE]
    if gated.size == 0:
        return float("-inf")
    relative = -0.691 + 10 * np.log10(gated.mean()) + RELATIVE_GATE
    gated = power[(loudness > ABSOLUTE_GATE) & (loudness > relative)]
    return float(-0.691 + 10 * np.log10(gated.mean()))


def _oversampled_peak_envelope(x: np.ndarray) -> np.ndarray:
    """Per-sample true-peak envelope (max over 4x-oversampled values and channels)."""
    over = np.abs(resample_poly(x, 4, 1, axis=-1))
    length = x.shape[-1]
    over = over[:, : length * 4].reshape(x.shape[0], length, 4).max(-1)
    return np.maximum(over.max(0), np.abs(x).max(0))


def true_peak_db(samples: np.ndarray) -> float:
    """True peak in dBTP (4x oversampling, as BS.1770-4 Annex 2)."""
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    peak = float(_oversampled_peak_envelope(x).max()) if x.size else 0.0
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


def _limit(x: np.ndarray, rate: int, ceiling_db: float) -> np.ndarray:
    """Look-ahead peak limiter: every gain is <= ceiling / |x| within the averaging reach (no overshoot)."""
    ceiling = 10 ** (ceiling_db / 20)
    envelope = _oversampled_peak_envelope(x)
    reach = max(1, round(0.005 * rate))
    held = maximum_filter1d(envelope, size=4 * reach + 1, mode="nearest")
    gain = np.minimum(1.0, ceiling / np.maximum(held, 1e-12))
    gain = uniform_filter1d(gain, size=2 * reach + 1, mode="nearest")
    return x * gain


def normalize_loudness(
    samples: np.ndarray, rate: int, target_lufs: float = -14.0, peak_dbtp: float = -1.0
) -> tuple[np.ndarray, float, float]:
    """Scale (and peak-limit) ``[C,T]`` audio to the target loudness; returns (audio, before, after) LUFS."""
    x = np.atleast_2d(np.asarray(samples, dtype=np.float64))
    before = integrated_loudness(x, rate)
    if not math.isfinite(before):
        return x.astype(np.float32), before, before
    y = x
    current = before
    ceiling = peak_dbtp - 0.3  # headroom for the AAC encoder's own overshoot
    for _ in range(4):
        y = y * 10 ** ((target_lufs - current) / 20)
        if true_peak_db(y) > ceiling:
            y = _limit(y, rate, ceiling)
        current = integrated_loudness(y, rate)
        if abs(current - target_lufs) < 0.1:
            break
    return y.astype(np.float32), before, current

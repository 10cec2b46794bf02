"""The providers' model × parameter tables and prices, checked against the emulators' own documented rules.

Every combination an adapter's table allows is accepted by that provider's emulator; every combination it
refuses is refused by both, before anything is submitted; each remote preset step is priced from its real
parameters, and the price held is never below what the emulator's provider charges for that request.
"""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path

import pytest
from ainfluencer.sidecar.billing.cost_table import MODEL_PRICES, PricedRequest, model_price
from ainfluencer.sidecar.billing.ledger import CreditLedger
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.storage import open_database
from ainfluencer.sidecar.remote import capabilities
from ainfluencer.sidecar.remote.adapters import fal, fal_models, kling_models, runware_models
from ainfluencer.sidecar.remote.adapters.model_rules import find_rule, sent, settle
from ainfluencer.sidecar.remote.pricing import checked_request, node_request, priced_request
from emulators import fal as fal_emulator
from emulators import runware as runware_emulator
from emulators.fal import FalEmulator
from emulators.kling import KlingEmulator
from emulators.media import make_png

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
KLING_WIDGETS = ("prompt", "negative_prompt", "model", "mode", "duration")
FAL_WIDGETS = ("prompt", "model", "duration", "prompt_optimizer", "resolution")
START = base64.b64encode(make_png(320, 320)).decode()  # Kling wants at least 300 px a side


def _combinations(rule):
    names = [c.name for c in rule.choices]
    for values in itertools.product(*(c.allowed for c in rule.choices)):
        yield dict(zip(names, values, strict=True))


def _fal_body(rule, values):
    image = "reference_image_url" if rule.model == "fal-ai/flux-pulid" else "image_url"  # PuLID's face input
    return {"prompt": "x", image: "https://v3.fal.media/files/in.png", **sent(rule, values)}


@pytest.fixture
def fal_emu():
    return FalEmulator(key="fal-id:fal-secret")


@pytest.mark.parametrize("rule", [r for r in fal_models.RULES if r.choices], ids=lambda r: r.model)
def test_every_fal_combination_the_table_allows_is_accepted_by_the_emulator(fal_emu, rule):
    for values in _combinations(rule):
        settled = settle(rule, values)
        for refused in rule.refused:
            assert not all(settled.get(n) == v for n, v in refused)
        assert fal_emu._validate(rule.model, _fal_body(rule, settled)) is None, (rule.model, values)


@pytest.mark.parametrize(
    ("model", "given", "allowed"),
    [
        (fal.WAN_25, {"duration": "6"}, ["5", "10"]),
        (fal.WAN_27, {"duration": "16"}, list(range(2, 16))),
        (fal.HAILUO_PRO, {"duration": "10"}, ["6"]),
        (fal.HAILUO_STANDARD, {"resolution": "1080P"}, ["512P", "768P"]),
    ],
)
def test_a_fal_value_the_model_refuses_is_refused_by_the_table_naming_the_allowed_values(
    model, given, allowed
):
    with pytest.raises(AInfError) as caught:
        checked_request("provider_fal", "video", {"model": model, **given})
    assert caught.value.code == ErrorCode.VALIDATION_ERROR
    assert caught.value.detail["allowed"] == allowed and caught.value.detail["source"].startswith("https://")


def test_the_fal_emulator_refuses_what_the_table_refuses(fal_emu):
    body = {"prompt": "x", "image_url": "https://v3.fal.media/files/in.png"}
    assert fal_emu._validate(fal.WAN_25, {**body, "duration": "6"}) is not None
    assert fal_emu._validate(fal.WAN_27, {**body, "duration": "5"}) is not None  # a string is refused
    assert fal_emu._validate(fal.WAN_27, {**body, "duration": 5}) is None
    assert fal_emu._validate(fal.HAILUO_PRO, {**body, "duration": "10"}) is not None
    assert fal_emu._validate(fal.HAILUO_STANDARD, {**body, "resolution": "1080P"}) is not None


def test_wan_27_durations_are_sent_as_integers_even_when_a_node_gives_a_string():
    rule = find_rule(fal_models.RULES, fal.WAN_27)
    assert sent(rule, settle(rule, {"duration": "7"})) == {"duration": 7, "resolution": "1080p"}


def test_kling_v2_5_turbo_runs_in_pro_only_and_both_sides_refuse_std():
    with pytest.raises(AInfError) as caught:
        checked_request("provider_kling", "video", {"model": "kling-v2-5-turbo", "mode": "std"})
    assert caught.value.detail["allowed"] == ["pro"]
    emu = KlingEmulator(access_key="ak", secret_key="sk")
    body = {"model_name": "kling-v2-5-turbo", "prompt": "x", "mode": "std", "duration": "5"}
    assert "mode" in emu._validate("text2video", body)
    assert emu._validate("text2video", {**body, "mode": "pro"}) is None


def test_every_kling_video_combination_the_table_allows_is_accepted_by_the_emulator():
    emu = KlingEmulator(access_key="ak", secret_key="sk")
    for rule in kling_models.VIDEO_RULES:
        for values in _combinations(rule):
            body = {"model_name": rule.model, "image": START, **sent(rule, settle(rule, values))}
            assert emu._validate("image2video", body) is None, body


def test_kling_image_reference_only_on_the_models_that_honour_it_on_both_sides():
    emu = KlingEmulator(access_key="ak", secret_key="sk")
    for model in kling_models.IMAGE:
        request = {"model": model, "image_reference": "face"}
        body = {"model_name": model, "prompt": "x", "image": START, "image_reference": "face"}
        if model in kling_models.REFERENCE_MODELS:
            checked_request("provider_kling", "image", request)
            assert emu._validate("generations", body) is None
        else:
            with pytest.raises(AInfError) as caught:
                checked_request("provider_kling", "image", request)
            assert caught.value.message == f"{model} takes no image_reference."
            assert "image_reference" in emu._validate("generations", body)


def test_every_runware_duration_the_table_allows_is_accepted_and_one_past_it_refused():
    for rule in runware_models.VIDEO_RULES:
        allowed = rule.allowed("duration")
        for duration in (*allowed, max(allowed) + 1):
            task = {"model": rule.model, "duration": duration}
            emulator_ok = duration in _runware_emulator_durations(rule.model)
            try:
                checked_request("provider_runware", "video", task)
                table_ok = True
            except AInfError:
                table_ok = False
            assert table_ok == emulator_ok, (rule.model, duration)


def _runware_emulator_durations(model: str) -> tuple[int, ...]:
    emu = runware_emulator.RunwareEmulator(key="rw-key")
    ok = []
    for duration in range(0, 20):
        task = {"taskType": "videoInference", "taskUUID": "u", "model": model, "positivePrompt": "x",
                "duration": duration, "deliveryMethod": "async", "width": 512, "height": 512}  # fmt: skip
        try:
            emu.rules.validate(task)
            ok.append(duration)
        except runware_emulator.TaskError as exc:
            if exc.parameter == "duration":
                continue
            raise
    return tuple(ok)


def test_the_capability_node_maps_short_and_long_onto_durations_the_engine_takes():
    assert capabilities.video_settings("provider_fal", "long")["duration"] == "10"
    assert capabilities.video_settings("provider_kling", "short") == {
        "model": "kling-v2-5-turbo",
        "mode": "pro",
        "duration": "5",
    }
    assert capabilities.video_settings("provider_runware", "long")["duration"] == 10


@pytest.mark.parametrize(
    ("request_", "usd"),
    [
        ({"model": fal.HAILUO_STANDARD, "resolution": "512P", "duration": "6"}, 0.102),
        ({"model": fal.HAILUO_STANDARD}, 0.27),  # 768P is what runs when nothing says otherwise
        ({"model": fal.HAILUO_PRO}, 0.48),
        ({"model": fal.WAN_25, "duration": "10", "resolution": "720p"}, 1.0),
        ({"model": fal.CLARITY_UPSCALER, "upscale_factor": 2}, 0.126),  # 2x of 1024²
    ],
)
def test_fal_prices_come_from_the_request_that_is_sent(request_, usd):
    capability = "upscale" if request_["model"] == fal.CLARITY_UPSCALER else "video"
    assert model_price(priced_request("provider_fal", capability, request_)) == usd


@pytest.mark.parametrize(
    ("request_", "usd"),
    [
        ({"image_size": "landscape_16_9"}, 0.055),  # 1024x576: 0.59 MP, billed as 1
        ({"image_size": "square_hd"}, 0.11),  # 1024x1024 is 1.05 MP: rounded up to 2
        ({"image_size": {"width": 2048, "height": 2048}}, 0.275),  # 4.19 MP → 5
        ({"image_size": "portrait_4_3", "num_images": 2}, 0.11),
        ({}, 0.055),  # fal's default landscape_4_3
    ],
)
def test_a_flux_pro_image_on_fal_is_held_per_output_megapixel_rounded_up(request_, usd):
    request = {"model": fal.FLUX_PRO, "prompt": "a portrait", **request_}
    assert model_price(priced_request("provider_fal", "image", request)) == usd


def test_a_price_that_could_not_be_confirmed_says_so_and_holds_the_higher_listed_rate():
    rows = {row.model: row for row in MODEL_PRICES}
    for model in (fal.FLUX_PRO, fal.FACE_SWAP_VIDEO, "runware:101@1", "kling-v1-5"):
        assert rows[model].assumed and rows[model].note.startswith("unconfirmed"), model
    # FLUX1.1 [pro] on fal is listed at $0.04 per image and $0.055 per megapixel: 1 MP holds the higher
    assert model_price(priced_request("provider_fal", "image", {"model": fal.FLUX_PRO})) >= 0.055


def test_runware_kling_3_pro_is_held_at_its_with_audio_rate_and_wan_27_at_its_top_rate():
    assert model_price(PricedRequest("provider_runware", "klingai:kling-video@3-pro", seconds=5)) == 0.84
    assert model_price(PricedRequest("provider_runware", "alibaba:wan@2.7", seconds=5)) == 0.75


def test_every_model_price_cites_its_source_and_the_month_it_was_checked():
    assert all(row.source.startswith("https://") and row.checked == "2026-12" for row in MODEL_PRICES)


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (fal.HAILUO_STANDARD, {"duration": "10", "resolution": "512P"}),
        (fal.HAILUO_STANDARD, {"duration": "6"}),
        (fal.HAILUO_PRO, {}),
        (fal.WAN_25, {"duration": "10", "resolution": "1080p"}),
        (fal.WAN_27, {"duration": 15, "resolution": "720p"}),
        (fal.CLARITY_UPSCALER, {"upscale_factor": 4}),
        (fal.FLUX_PRO, {"image_size": "landscape_16_9"}),
        (fal.FLUX_PRO, {"image_size": "square", "num_images": 4}),
    ],
)
def test_the_price_held_for_a_fal_request_is_never_below_the_emulators_charge(model, body):
    capability = {fal.CLARITY_UPSCALER: "upscale", fal.FLUX_PRO: "image"}.get(model, "video")
    request = {"model": model, **body}
    rule = find_rule(fal_models.RULES, model)
    sent_body = {**body, **(sent(rule, settle(rule, request)) if rule and rule.choices else {})}
    assert model_price(priced_request("provider_fal", capability, request)) >= fal_emulator.charge(
        model, sent_body
    )


def test_the_price_held_for_a_runware_video_is_never_below_the_emulators_charge():
    for rule in runware_models.VIDEO_RULES:
        for duration in rule.allowed("duration"):
            request = {"model": rule.model, "duration": duration}
            held = model_price(priced_request("provider_runware", "video", request))
            assert held >= runware_emulator.video_charge(request) - 1e-9


def _remote_nodes(path: Path):
    workflow = json.loads(path.read_text(encoding="utf-8"))
    for node in workflow["nodes"]:
        if node["type"] in ("AInfluencerFalImageToVideo", "AInfluencerKlingImageToVideo"):
            yield node, workflow["extra"]["ainfluencer"]["quality_levels"]


@pytest.mark.parametrize(
    ("preset", "engine", "names", "expected"),
    [
        ("image_to_video_v1.json", "provider_kling", KLING_WIDGETS, {"low": 0.315, "standard": 0.315,
         "pro": 0.315}),
        ("variants/image_to_video_v1@provider_fal.json", "provider_fal", FAL_WIDGETS,
         {"low": 0.102, "standard": 0.27, "pro": 0.48}),
    ],
)  # fmt: skip
def test_each_remote_preset_step_is_priced_from_its_real_parameters(
    tmp_path, preset, engine, names, expected
):
    ledger = CreditLedger(open_database(tmp_path), tmp_path)
    ((node, levels),) = _remote_nodes(WORKFLOWS / preset)
    inputs = dict(zip(names, node["widgets_values"], strict=False))
    for quality, usd in expected.items():
        level = {
            o["input"]: o["value"] for o in levels[quality]["overrides"] if o["node_id"] == str(node["id"])
        }
        request = node_request(node["type"], engine, {**inputs, **level})
        assert ledger.price(priced_request(engine, "video", request), "video", quality) == usd, quality


def test_a_users_cost_table_row_still_overrides_a_model_price(tmp_path):
    (tmp_path / "cost_table.json").write_text(json.dumps({"entries": [
        {"engine": "provider_fal", "operation": f"model:{fal.HAILUO_PRO}", "credits": 0.3}]}))  # fmt: skip
    ledger = CreditLedger(open_database(tmp_path), tmp_path)
    assert (
        ledger.price(PricedRequest("provider_fal", fal.HAILUO_PRO, seconds=6, tier="1080P"), "video") == 0.3
    )


def _wav(seconds: float, rate: int = 8000) -> bytes:
    """A silent mono 16-bit WAV of `seconds`."""
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"\0\0" * int(seconds * rate))
    return out.getvalue()


def test_a_lip_sync_is_held_for_its_longest_input_not_an_assumed_ten_seconds(tmp_path):
    clip = (
        Path(__file__).resolve().parents[1] / "assets" / "examples" / "portrait_talking_source.mp4"
    ).read_bytes()
    request = {"model": "lipsync-2", "video": clip, "audio": _wav(42.0), "sync_mode": "loop"}
    priced = priced_request("provider_synclabs", "lipsync", request)
    assert priced.seconds == pytest.approx(42.0, abs=0.05)
    ledger = CreditLedger(open_database(tmp_path), tmp_path)
    assert ledger.price(priced, "lipsync") >= 42.0 * 0.05  # lipsync-2's top rate per second of output
    unreadable = priced_request(
        "provider_synclabs", "lipsync", {"model": "lipsync-2", "video": b"x", "audio": b"y"}
    )
    assert unreadable.seconds == 10.0  # nothing to measure: the table's assumed clip length
    short = priced_request(
        "provider_synclabs", "lipsync", {"model": "lipsync-2", "video": clip, "audio": _wav(3.0)}
    )
    assert short.seconds == 10.0  # a clip shorter than the assumed length is still held at it

"""File names from requests are reduced to safe names inside their folder."""

import pytest
from ainfluencer.sidecar.core.errors import AInfError, ErrorCode
from ainfluencer.sidecar.core.paths import resolve_inside, sanitize_filename


@pytest.mark.parametrize(
    "name",
    ["../x.mp4", "a/../../b.mp4", "..", "/etc/passwd", "a\\b.mp4", "x\x00.mp4", "", "CON.mp4", "nul.png"],
)
def test_unsafe_names_are_rejected(name):
    with pytest.raises(AInfError) as info:
        sanitize_filename(name)
    assert info.value.code == ErrorCode.VALIDATION_ERROR


def test_odd_characters_are_replaced_and_plain_names_kept():
    assert sanitize_filename("clip.mp4") == "clip.mp4"
    assert sanitize_filename("my clip (1).mp4") == "my clip _1_.mp4"
    assert sanitize_filename("tést<>|.png") == "t_st_.png"


def test_resolve_inside_refuses_escapes(tmp_path):
    assert resolve_inside(tmp_path, "a", "b.txt") == (tmp_path / "a" / "b.txt").resolve()
    with pytest.raises(AInfError):
        resolve_inside(tmp_path, "..", "x")
    outside = tmp_path.parent / "outside"
    outside.mkdir(exist_ok=True)
    (tmp_path / "link").symlink_to(outside)
    with pytest.raises(AInfError):
        resolve_inside(tmp_path, "link", "x")

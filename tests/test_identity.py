"""Identity, measured: distances to the nearest reference face, their summary, and the job's warning."""

import numpy as np
import pytest
from ainfluencer.sidecar.cli.jobs import render_job
from ainfluencer.sidecar.core.paths import data_dir
from ainfluencer.sidecar.core.storage import open_database
from ainfluencer.sidecar.jobs.identity import DEFAULT_THRESHOLD, measure
from ainfluencer.sidecar.jobs.store import JobStore


def _face(seed: int) -> np.ndarray:
    """A synthetic 128-d face embedding (unit length, like dlib's descriptors roughly are)."""
    vector = np.random.default_rng(seed).normal(size=128)
    return vector / np.linalg.norm(vector)


def _near(face: np.ndarray, distance: float, seed: int) -> np.ndarray:
    """Another embedding exactly `distance` away from `face`."""
    step = np.random.default_rng(seed).normal(size=128)
    return face + distance * step / np.linalg.norm(step)


@pytest.fixture
def store(tmp_path):
    folder = data_dir(tmp_path / "user")
    return JobStore(open_database(folder), folder)


def test_shots_of_the_same_face_hold_and_carry_no_warning():
    ref = _face(1)
    report = measure([ref], [_near(ref, 0.2, s) for s in range(4)], subject="shot")
    assert report.drifted == () and report.warning is None
    assert report.mean == pytest.approx(0.2, abs=1e-3) and report.worst == pytest.approx(0.2, abs=1e-3)


def test_a_different_face_in_shots_3_and_7_is_named_in_the_warning():
    ref, other = _face(1), _face(2)
    outputs = [_near(ref, 0.25, s) for s in range(8)]
    outputs[2], outputs[6] = other, _near(other, 0.1, 9)
    report = measure([ref], outputs, subject="shot")
    assert report.drifted == (3, 7)
    assert report.warning.startswith("identity drift in shots 3 and 7")
    assert report.worst > DEFAULT_THRESHOLD > report.mean - 1


def test_a_shot_without_a_face_counts_as_drift_and_is_left_out_of_the_mean():
    ref = _face(1)
    report = measure([ref], [_near(ref, 0.3, 1), None], subject="shot")
    assert report.drifted == (2,) and report.warning.startswith("identity drift in shot 2 ")
    assert report.mean == pytest.approx(0.3, abs=1e-3)


def test_the_nearest_of_several_references_counts():
    front, profile = _face(1), _face(2)
    report = measure([front, profile], [_near(profile, 0.1, 3)], subject="shot")
    assert report.distances[0] == pytest.approx(0.1, abs=1e-3) and report.warning is None


def test_frames_are_labelled_by_index_and_the_spread_is_the_largest_step_between_neighbours():
    ref = _face(1)
    frames = [ref, _near(ref, 0.05, 1), _near(ref, 0.5, 2)]
    report = measure([ref], frames, subject="frame", labels=[0, 12, 24])
    steps = [np.linalg.norm(frames[1] - frames[0]), np.linalg.norm(frames[2] - frames[1])]
    assert report.labels == (0, 12, 24) and report.frame_spread == pytest.approx(max(steps), abs=1e-3)


def test_a_stricter_threshold_flags_what_the_default_lets_through():
    ref = _face(1)
    outputs = [_near(ref, 0.45, 1)]
    assert measure([ref], outputs, subject="shot").warning is None
    assert measure([ref], outputs, subject="shot", threshold=0.4).drifted == (1,)


def test_measuring_without_a_reference_or_with_mismatched_labels_is_refused():
    with pytest.raises(ValueError):
        measure([], [_face(1)], subject="shot")
    with pytest.raises(ValueError):
        measure([_face(1)], [_face(1)], subject="frame", labels=[0, 1])


def test_the_job_answer_carries_the_distances_and_the_drift_warning(store):
    job_id = store.create(source="api", preset_id="identity_lock_portrait_v1", inputs={})
    ref = _face(1)
    store.record_identity(job_id, "7", measure([ref], [_near(ref, 0.2, 1), _face(5)], subject="shot"))
    job = store.get(job_id)
    check = job["identity"]["checks"][0]
    assert check["node_id"] == "7" and check["subject"] == "shot" and check["drifted"] == [2]
    assert len(check["distances"]) == 2 and check["worst"] > DEFAULT_THRESHOLD
    assert job["warnings"] == [check["warning"]] and "shot 2" in job["warnings"][0]
    assert store.list()["jobs"][0]["warnings"] == job["warnings"]
    assert any(line["level"] == "warning" for line in store.read_logs(job_id))
    assert "warning   identity drift in shot 2" in render_job(job)


def test_a_job_that_was_not_measured_has_no_identity_and_no_warnings(store):
    job = store.get(store.create(source="api", preset_id="p", inputs={}))
    assert job["identity"] is None and job["warnings"] == []

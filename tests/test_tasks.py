import pytest

from cosmos_env.tasks import TaskConfig, UnknownTaskError, known_tasks, load_task


def test_known_tasks_cover_the_five_mujoco_tasks():
    assert {"hopper", "halfcheetah", "walker2d", "inverted_pendulum", "reacher"} <= set(known_tasks())


def test_load_by_name_gym_id_and_override():
    assert load_task("hopper").gym_id == "Hopper-v5"
    assert load_task("HalfCheetah-v5").name == "halfcheetah"
    assert load_task("hopper", width=32).width == 32


def test_unknown_task_lists_known_tasks():
    with pytest.raises(UnknownTaskError, match="unknown task 'hoper'.*halfcheetah, hopper"):
        load_task("hoper")


def test_invalid_fields_are_named():
    with pytest.raises(ValueError, match="segmentation"):
        TaskConfig(name="x", gym_id="Hopper-v5", segmentation="pixel")
    with pytest.raises(ValueError, match="camera_pose"):
        TaskConfig(name="x", gym_id="Hopper-v5", camera_pose=(0.0, 1.0))

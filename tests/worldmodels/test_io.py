import numpy as np
import pytest

from worldmodels.io import SafetensorsError, atomic_save_safetensors, memmap_safetensors


def test_round_trip_memmaps_every_dtype(tmp_path):
    arrays = {
        "u8": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        "f16": np.linspace(0, 1, 5).astype(np.float16),
        "b": np.array([True, False, True]),
        "f64": np.eye(3),
        "empty": np.zeros((0, 2), np.float32),
    }
    path = atomic_save_safetensors(tmp_path / "x.safetensors", arrays, {"k": "v"})
    loaded, meta = memmap_safetensors(path)
    assert meta == {"k": "v"}
    for k, v in arrays.items():
        np.testing.assert_array_equal(loaded[k], v)
        assert loaded[k].dtype == v.dtype
    assert list(tmp_path.iterdir()) == [path]  # no temp file left behind


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_damaged_files_raise_naming_the_file(tmp_path, damage):
    path = atomic_save_safetensors(tmp_path / "x.safetensors", {"a": np.zeros((100, 100))})
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x10\x00" * 50, "empty": b""}[damage])
    with pytest.raises(SafetensorsError, match="x.safetensors"):
        memmap_safetensors(path)

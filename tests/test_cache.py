import numpy as np

from cosmos_env.cache import cached_arrays


def test_cached_arrays_are_remade_only_for_another_key(tmp_path):
    path, calls = tmp_path / "derived.safetensors", []

    def make(value):
        def inner():
            calls.append(value)
            return {"x": np.full(3, value, np.float32)}

        return inner

    first = cached_arrays(path, {"source": "a"}, make(1.0))
    again = cached_arrays(path, {"source": "a"}, make(2.0))
    assert calls == [1.0] and np.array_equal(again["x"], first["x"])  # read back, not remade
    other = cached_arrays(path, {"source": "b"}, make(3.0))
    assert calls == [1.0, 3.0] and np.array_equal(other["x"], np.full(3, 3.0))
    assert np.array_equal(cached_arrays(path, {"source": "b"}, make(4.0))["x"], np.full(3, 3.0))

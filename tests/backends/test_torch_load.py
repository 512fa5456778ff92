"""A torch artifact reloaded from its file (no live module) runs like the model it came from."""

import numpy as np
import pytest

from workbench.backends import (
    Artifact,
    CompileContext,
    Deployment,
    ModelSource,
    Threads,
    get_backend,
)

pytestmark = pytest.mark.torch


def test_a_pt2_artifact_reloads_from_its_file(trained_cnn, tmp_path):
    import torch

    spec, model, data = trained_cnn
    source = ModelSource("torch", model, spec.input_shape, tmp_path)
    backend = get_backend("torch")
    art = backend.compile(source, Deployment("torch", "fp32"), CompileContext())
    assert art.path is not None and art.path.suffix == ".pt2"
    cold = Artifact.from_dict(art.to_dict())  # a file on disk, no live module
    assert cold.live is None
    runner = backend.load(cold, Threads(1, 1))
    x = np.ascontiguousarray(data.x_test[:16])
    with torch.inference_mode():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(runner(x), expected, rtol=1e-4, atol=1e-5)

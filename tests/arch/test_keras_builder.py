"""The Keras build of a spec equals the PyTorch build: layers, names, parameters, numerics."""

import math

import numpy as np
import pytest

from workbench.arch import (
    ArchSpec,
    BasicBlock,
    ConvBN,
    Dense,
    InvertedResidual,
    Pool,
    build_torch,
    layer_costs,
    mlp,
    mobilenet_v2,
    resnet,
    resnet18,
    resnet34,
    resnet50,
)

keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.keras, pytest.mark.torch]

from workbench.arch import build_keras, keras_input_shape  # noqa: E402

EXTRA_LAYERS = (
    ".pad",
    ".to_chw",
)  # Keras-only layers without weights (explicit padding, NHWC -> NCHW)


def _sampled(family, seed, shape=(1, 8, 8), **space):
    """A spec drawn from a search-space family, as a study would draw it."""
    import optuna

    from workbench._schema import Reader
    from workbench.study._space import Task, compile_space

    fn = compile_space(Reader({"family": family, **space}, field="space"), Task(shape, 10))
    trial = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask()
    return fn(trial)


SPECS = {
    "mobilenet_v2": mobilenet_v2((3, 64, 64), 10),
    "resnet18": resnet18((3, 64, 64), 10),
    "bottleneck": resnet(
        "bottleneck",
        (1, 2),
        (16, 32),
        input_shape=(3, 32, 32),
        num_classes=7,
        stem_channels=8,
        stem_kernel=3,
        stem_stride=1,
    ),
    "mlp_image": mlp((1, 8, 8), 10, (32, 16), dropout=0.1, batchnorm=True),
    "mlp_vector": mlp((20,), 3, (8,), activation="gelu"),
    "mixed": ArchSpec(
        (3, 17, 17),
        5,
        (
            ConvBN(8, 3, 2),
            Pool("max", 3, 2),
            InvertedResidual(8, 1, 5),
            ConvBN(16, 3, 1, groups=0),
            ConvBN(32, 3, 1, groups=0),
            Dense(12),
        ),
        head_dropout=0.2,
    ),
    "grouped": ArchSpec(
        (4, 9, 9),
        6,
        (
            ConvBN(8, 3, 2, groups=2, activation="hardswish"),
            InvertedResidual(8, 3, 3, 1, activation="silu"),
            Pool("avg", 3, 1),
        ),
    ),
    "space_mlp": _sampled("mlp", 0),
    "space_mobilenet": _sampled("mobilenet", 1, stem_stride=[1, 2], last_channels=[0, 32]),
    "space_resnet": _sampled("resnet", 2, block=["basic", "bottleneck"], stem_pool=[True]),
}


def _keras_layers(model):
    out = {}
    for layer in model.layers:
        if layer.name == "input":
            continue
        weights = layer.trainable_weights
        params = sum(int(np.prod(w.shape)) for w in weights)
        shape = tuple(int(d) for d in layer.output.shape[1:])
        if len(shape) == 3:  # (H, W, C) -> the spec's (C, H, W)
            shape = (shape[2], shape[0], shape[1])
        macs = 0
        kernel = next((w for w in weights if "kernel" in w.path), None)
        if kernel is not None:
            macs = int(np.prod(kernel.shape)) * (shape[1] * shape[2] if len(shape) == 3 else 1)
        out[layer.name] = (params, macs, shape)
    return out


@pytest.mark.parametrize("name", list(SPECS))
def test_every_layer_matches_the_spec_and_the_torch_build(name):
    spec = SPECS[name]
    model = build_keras(spec, seed=0)
    seen = _keras_layers(model)
    costs = layer_costs(spec)
    names = [c.name for c in costs]
    # the same layers, by name, in both directions (Keras-only padding/permute layers carry nothing)
    assert set(names) <= set(seen), sorted(set(names) - set(seen))[:5]
    extra = set(seen) - set(names)
    assert all(n.endswith(EXTRA_LAYERS) and seen[n][0] == 0 for n in extra), sorted(extra)
    for c in costs:
        params, macs, shape = seen[c.name]
        assert (params, macs, shape) == (c.params, c.macs, c.output_shape), c.name
    torch_params = sum(p.numel() for p in build_torch(spec, seed=0).parameters())
    keras_params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert keras_params == torch_params == sum(c.params for c in costs)
    # batch-norm running statistics are the only other weights, as in PyTorch's buffers
    bn_stats = sum(2 * c.output_shape[0] for c in costs if c.op == "bn")
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == bn_stats
    assert tuple(model.input_shape[1:]) == keras_input_shape(spec.input_shape)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("spec", "params"),
    [(resnet34(), 21_797_672), (resnet50(), 25_557_032), (mobilenet_v2(), 3_504_872)],
    ids=["resnet34", "resnet50", "mobilenet_v2"],
)
def test_published_parameter_counts(spec, params):
    model = build_keras(spec, seed=0)
    assert (
        model.count_params() - sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
        == params
    )


def _copy_torch_weights(tmodel, kmodel):
    """Load the PyTorch weights into the Keras build (transposing to TensorFlow's layouts)."""
    state = {k: v.detach().numpy() for k, v in tmodel.state_dict().items()}
    for layer in kmodel.layers:
        n = layer.name
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            w = state[f"{n}.weight"]  # (C*m, 1, k, k) -> (k, k, C, m)
            c = layer.input.shape[-1]
            layer.set_weights([w.reshape(c, -1, *w.shape[2:]).transpose(2, 3, 0, 1)])
        elif isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([state[f"{n}.weight"].transpose(2, 3, 1, 0)])
        elif isinstance(layer, keras.layers.Dense):
            layer.set_weights([state[f"{n}.weight"].T, state[f"{n}.bias"]])
        elif isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [state[f"{n}.{k}"] for k in ("weight", "bias", "running_mean", "running_var")]
            )


@pytest.mark.parametrize(
    "name",
    [
        "mobilenet_v2",
        "resnet18",
        "bottleneck",
        "mlp_image",
        "grouped",
        "space_mobilenet",
        "space_resnet",
    ],
)
def test_same_weights_give_the_same_logits(name):
    """Equivalent, not just alike: with PyTorch's weights the Keras build computes the same function
    (strided convolutions and max pooling after a ReLU pad like PyTorch)."""
    spec = SPECS[name]
    tmodel = build_torch(spec, seed=1).eval()
    with torch.no_grad():  # non-trivial batch-norm statistics
        for m in tmodel.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    kmodel = build_keras(spec, seed=0)
    _copy_torch_weights(tmodel, kmodel)
    x = np.random.default_rng(0).standard_normal((4, *spec.input_shape)).astype(np.float32)
    with torch.inference_mode():
        expected = tmodel(torch.from_numpy(x)).numpy()
    xk = x.transpose(0, 2, 3, 1) if x.ndim == 4 else x
    got = np.asarray(kmodel(xk, training=False))
    scale = max(1.0, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, atol=2e-4 * scale, rtol=1e-3)


def test_build_is_reproducible_with_a_seed():
    spec = SPECS["mixed"]
    a, b, c = (build_keras(spec, seed=s).get_weights() for s in (3, 3, 4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_initialisation_follows_pytorch():
    """He-normal over fan-out for convolutions, uniform(1/sqrt(fan_in)) for linear layers."""
    spec = ArchSpec((3, 8, 8), 10, (ConvBN(64, 3), ConvBN(64, 3, groups=0), BasicBlock(64)))
    model = build_keras(spec, seed=0)
    conv = model.get_layer("blocks.0.conv").get_weights()[0]
    assert conv.std() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.1)
    dw = model.get_layer("blocks.1.conv").get_weights()[0]
    assert dw.std() == pytest.approx(math.sqrt(2 / (64 * 9)), rel=0.15)
    fc_w, fc_b = model.get_layer("head.fc").get_weights()
    assert np.abs(fc_w).max() <= 1 / math.sqrt(64) and np.abs(fc_b).max() <= 1 / math.sqrt(64)


def test_building_in_keras_loads_tensorflow_lazily_and_no_torch():
    import subprocess
    import sys

    probe = (
        "import sys, workbench.arch as a; a.build_keras(a.mlp()); "
        "print('tensorflow' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]

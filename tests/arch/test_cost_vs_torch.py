"""Per-layer params, MACs and activation sizes from the spec, checked against the built model."""

import math

import pytest

from workbench.arch import (
    ArchSpec,
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
)

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch


def _measure_modules(model, input_shape):
    """Params, MACs (conv/linear, from actual output shapes) and output shape of each leaf."""
    out = {}
    hooks = []
    for name, mod in model.named_modules():
        if list(mod.children()):
            continue

        def hook(m, inp, outp, name=name):
            params = sum(p.numel() for p in m.parameters(recurse=False))
            macs = 0
            if isinstance(m, torch.nn.Conv2d):
                macs = m.weight.numel() * outp.shape[2] * outp.shape[3]
            elif isinstance(m, torch.nn.Linear):
                macs = m.weight.numel()
            out[name] = (params, macs, tuple(outp.shape[1:]))

        hooks.append(mod.register_forward_hook(hook))
    model.eval()
    with torch.inference_mode():
        model(torch.zeros(1, *input_shape))
    for h in hooks:
        h.remove()
    return out


SPECS = [
    mobilenet_v2((3, 64, 64), 10),
    resnet18((3, 64, 64), 10),
    resnet(
        "bottleneck",
        (1, 2),
        (16, 32),
        input_shape=(3, 32, 32),
        num_classes=7,
        stem_channels=8,
        stem_kernel=3,
        stem_stride=1,
        name="bneck",
    ),
    mlp((1, 8, 8), 10, (32, 16), dropout=0.1, batchnorm=True),
    ArchSpec(
        (3, 17, 17),
        5,
        (
            ConvBN(8, 3, 2),
            Pool("max", 3, 2),
            InvertedResidual(8, 1, 5),
            ConvBN(16, 3, 1, groups=0),
            Dense(12),
        ),
        head_dropout=0.2,
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name or s.family or "mixed")
def test_every_layer_matches_the_built_model(spec):
    model = build_torch(spec, seed=0)
    seen = _measure_modules(model, spec.input_shape)
    layers = layer_costs(spec)
    with_modules = [layer for layer in layers if layer.name in seen]
    # every module with weights or an output is accounted for by name
    missing = set(seen) - {layer.name for layer in layers}
    assert not missing, f"modules without a cost entry: {sorted(missing)[:5]}"
    for layer in with_modules:
        params, macs, shape = seen[layer.name]
        assert layer.params == params, layer.name
        assert layer.macs == macs, layer.name
        assert layer.output_shape == shape, layer.name
        assert layer.activation_bytes() == 4 * math.prod(shape)
    # totals equal the model's own parameter count
    assert sum(layer.params for layer in layers) == sum(p.numel() for p in model.parameters())


def test_build_is_reproducible_with_a_seed():
    a = build_torch(resnet18((3, 32, 32), 10), seed=3)
    b = build_torch(resnet18((3, 32, 32), 10), seed=3)
    c = build_torch(resnet18((3, 32, 32), 10), seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)

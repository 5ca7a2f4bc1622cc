"""Students: the official MiDaS v2.1 small layout, official-computation parity, encoders, registry, export."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from edgedepth.models import EfficientNetLite, ModelConfigError, create_model, list_encoders, list_models

REPO = Path(__file__).resolve().parents[2]
KEYS_NAME = "midas_v21_small_256.keys.json"
# The official [key, shape, dtype] list (482 entries, official order), read off the official model.
KEYS_FILE = REPO / "tests" / "data" / KEYS_NAME
# sha256 of that list as compact JSON: pins the file itself against accidental edits.
OFFICIAL_LAYOUT_SHA256 = "03a567d098ca7706ea835a8a3daa230b3c6248678f4519825fa43af3f2bb971f"
OFFICIAL_PARAMS = 21_320_545


def layout_of(model: torch.nn.Module) -> list[list]:
    return [[k, list(v.shape), str(v.dtype)] for k, v in model.state_dict().items()]


def layout_sha256(layout: list[list]) -> str:
    return hashlib.sha256(json.dumps(layout, separators=(",", ":")).encode()).hexdigest()


def official_layout() -> list[list]:
    """The official key list, as shipped with the tests."""
    return json.loads(KEYS_FILE.read_text())


def random_official_state(layout: list[list], seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded values for every official key: He-scaled convs, BN variances spread over two decades."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape, dtype in layout:
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(0, dtype=getattr(torch, dtype.split(".")[1]))
        elif key.endswith("running_var"):
            state[key] = torch.exp(torch.empty(shape).uniform_(math.log(1e-2), math.log(2.0), generator=g))
        elif key.endswith("running_mean") or key.endswith("bias"):
            state[key] = 0.2 * torch.randn(shape, generator=g)
        elif len(shape) == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            state[key] = torch.randn(shape, generator=g) * math.sqrt(1.0 / fan_in)
        else:  # BatchNorm gamma
            state[key] = torch.empty(shape).uniform_(0.5, 1.5, generator=g)
    state["scratch.output_conv.4.bias"] = torch.tensor([5.0])  # a third of the pixels above the final ReLU
    return state


# ---- An independent forward that follows the official code literally, on a state_dict alone. ----
# gen-efficientnet tf_efficientnet_lite*: stage strides of the arch definition; MiDaS groups stages as
# layer1.3, layer1.4 | layer2.0 | layer3.0, layer3.1 | layer4.0, layer4.1.
STAGES = [("pretrained.layer1.3", 1), ("pretrained.layer1.4", 2), ("pretrained.layer2.0", 2),
          ("pretrained.layer3.0", 2), ("pretrained.layer3.1", 1), ("pretrained.layer4.0", 2),
          ("pretrained.layer4.1", 1)]


def ref_conv(x, w, b=None, stride=1, pad="tf"):
    """'same' conv: symmetric when static (stride 1, odd kernel), else TF SAME from the live input size."""
    k, groups = w.shape[-1], x.shape[1] // w.shape[1]
    if pad == "tf" and stride > 1:
        ih, iw = x.shape[-2:]
        ph = max((math.ceil(ih / stride) - 1) * stride + k - ih, 0)
        pw = max((math.ceil(iw / stride) - 1) * stride + k - iw, 0)
        x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, w, b, stride, 0, 1, groups)
    return F.conv2d(x, w, b, stride, (k - 1) // 2, 1, groups)


def official_forward(sd, x, pad="tf", eps=1e-3, act=F.relu6, fusion_align_corners=True,
                     head_align_corners=False):
    def bn(t, p):
        return F.batch_norm(t, sd[p + ".running_mean"], sd[p + ".running_var"], sd[p + ".weight"],
                            sd[p + ".bias"], False, 0.0, eps)

    x = act(bn(ref_conv(x, sd["pretrained.layer1.0.weight"], stride=2, pad=pad), "pretrained.layer1.1"))
    feats = {}
    for prefix, stage_stride in STAGES:
        j = 0
        while f"{prefix}.{j}.bn1.weight" in sd:
            p, s = f"{prefix}.{j}", stage_stride if j == 0 else 1
            inp = x
            if f"{p}.conv_pwl.weight" in sd:  # inverted residual
                x = act(bn(ref_conv(x, sd[p + ".conv_pw.weight"]), p + ".bn1"))
                x = act(bn(ref_conv(x, sd[p + ".conv_dw.weight"], stride=s, pad=pad), p + ".bn2"))
                x = bn(ref_conv(x, sd[p + ".conv_pwl.weight"]), p + ".bn3")
            else:  # depthwise separable, no activation after the pointwise conv
                x = act(bn(ref_conv(x, sd[p + ".conv_dw.weight"], stride=s, pad=pad), p + ".bn1"))
                x = bn(ref_conv(x, sd[p + ".conv_pw.weight"]), p + ".bn2")
            if s == 1 and inp.shape == x.shape:
                x = x + inp
            j += 1
        feats[prefix.rsplit(".", 1)[0]] = x  # the last stage of each layerN wins
    rn = [F.conv2d(feats[f"pretrained.layer{i}"], sd[f"scratch.layer{i}_rn.weight"], None, 1, 1)
          for i in (1, 2, 3, 4)]

    def rcu(t, p):
        out = F.conv2d(F.relu(t), sd[p + ".conv1.weight"], sd[p + ".conv1.bias"], 1, 1)
        out = F.conv2d(F.relu(out), sd[p + ".conv2.weight"], sd[p + ".conv2.bias"], 1, 1)
        return out + t

    def fusion(p, *xs):
        out = xs[0]
        if len(xs) == 2:
            out = out + rcu(xs[1], p + ".resConfUnit1")
        out = rcu(out, p + ".resConfUnit2")
        out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=fusion_align_corners)
        return F.conv2d(out, sd[p + ".out_conv.weight"], sd[p + ".out_conv.bias"])

    path = fusion("scratch.refinenet4", rn[3])
    path = fusion("scratch.refinenet3", path, rn[2])
    path = fusion("scratch.refinenet2", path, rn[1])
    path = fusion("scratch.refinenet1", path, rn[0])
    out = F.conv2d(path, sd["scratch.output_conv.0.weight"], sd["scratch.output_conv.0.bias"], 1, 1)
    out = F.interpolate(out, scale_factor=2, mode="bilinear", align_corners=head_align_corners)
    out = F.relu(F.conv2d(out, sd["scratch.output_conv.2.weight"], sd["scratch.output_conv.2.bias"], 1, 1))
    out = F.relu(F.conv2d(out, sd["scratch.output_conv.4.weight"], sd["scratch.output_conv.4.bias"]))
    return torch.squeeze(out, dim=1)


@pytest.fixture(scope="module")
def official():
    """midas_small loaded with a seeded official-layout state (as a real checkpoint would be)."""
    state = random_official_state(official_layout(), seed=0)
    model = create_model("midas_small").eval()
    model.load_state_dict(state, strict=True)
    return model, state


def image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    rgb = F.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode="bilinear")
    rgb = (rgb + 0.1 * torch.rand(1, 3, h, w, generator=g)).clamp(0, 1)
    mean, std = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])
    return (rgb - mean.view(1, 3, 1, 1)) / std.view(1, 3, 1, 1)


# ---- Layout and loading ----

def test_state_dict_equals_official_layout():
    model = create_model("midas_small")
    layout = layout_of(model)
    reference = official_layout()
    assert len(layout) == len(reference) == 482
    assert layout == reference  # names, shapes, dtypes and order
    assert layout_sha256(layout) == OFFICIAL_LAYOUT_SHA256
    assert sum(p.numel() for p in model.parameters()) == OFFICIAL_PARAMS


def test_official_checkpoint_loads_strictly_and_wrong_architecture_fails(tmp_path):
    path = tmp_path / "midas_v21_small_256.pt"
    torch.save(random_official_state(official_layout(), seed=1), path)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = create_model("midas_small")
    model.load_state_dict(state, strict=True)
    assert torch.equal(model.state_dict()["scratch.layer4_rn.weight"], state["scratch.layer4_rn.weight"])

    with pytest.raises(RuntimeError, match=r"size mismatch for pretrained\.layer1\.3\.0\.conv_pw\.weight"):
        create_model("midas_small_lite0").load_state_dict(state, strict=True)
    del state["scratch.refinenet4.resConfUnit1.conv1.weight"]  # unused in forward, but part of the layout
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*refinenet4\.resConfUnit1\.conv1\.weight"):
        model.load_state_dict(state, strict=True)


# ---- Official-computation parity ----

@pytest.mark.parametrize("size", [(256, 256), (192, 320)])
def test_matches_official_computation(official, size):
    model, state = official
    x = image(*size)
    with torch.no_grad():
        ours, ref = model(x), official_forward(state, x)
    assert ours.shape == (1, *size)
    scale = float(ref.abs().max())
    assert scale > 0 and float((ref > 0).float().mean()) > 0.2  # a non-trivial depth map
    assert float((ours - ref).abs().max()) <= 1e-5 * scale


def test_reference_detects_padding_eps_align_corners_and_activation_mistakes(official):
    """Each plausible porting mistake moves the output far beyond the parity tolerance."""
    model, state = official
    x = image(192, 320, seed=1)
    with torch.no_grad():
        ours = model(x)
        scale = float(ours.abs().max())
        mistakes = {
            "symmetric padding": official_forward(state, x, pad="symmetric"),
            "BatchNorm eps 1e-5": official_forward(state, x, eps=1e-5),
            "fusion align_corners=False": official_forward(state, x, fusion_align_corners=False),
            "head align_corners=True": official_forward(state, x, head_align_corners=True),
            "ReLU instead of ReLU6": official_forward(state, x, act=F.relu),
        }
    for mistake, out in mistakes.items():
        # "not within": an overflow (inf/NaN, as ReLU without the 6 can give) counts as caught
        assert not float((out - ours).abs().max()) <= 1e-3 * scale, mistake


def test_student_matches_official_computation():
    torch.manual_seed(0)
    model = create_model("midas_small_lite0").eval()
    x = image(64, 96)
    with torch.no_grad():
        ours, ref = model(x), official_forward(model.state_dict(), x)
    assert float((ours - ref).abs().max()) <= 1e-5 * float(ref.abs().max())


# ---- Encoders ----

# channels of layer1..4, blocks per stage, trunk parameters (adding the 1280-wide conv_head and a 1000-class
# classifier gives the published totals: 4.65M, 5.42M, 6.09M, 8.20M, 13.01M)
ENCODERS = {
    "efficientnet_lite0": ((24, 40, 112, 320), (1, 2, 2, 3, 3, 4, 1), 2_958_848),
    "efficientnet_lite1": ((24, 40, 112, 320), (1, 3, 3, 4, 4, 5, 1), 3_723_520),
    "efficientnet_lite2": ((24, 48, 120, 352), (1, 3, 3, 4, 4, 5, 1), 4_357_952),
    "efficientnet_lite3": ((32, 48, 136, 384), (1, 3, 3, 5, 5, 6, 1), 6_422_016),
    "efficientnet_lite4": ((32, 56, 160, 448), (1, 4, 4, 6, 6, 8, 1), 11_149_568),
}


@pytest.mark.parametrize("name", list(ENCODERS))
def test_encoder_variants(name):
    channels, repeats, params = ENCODERS[name]
    encoder = EfficientNetLite(name).eval()
    stages = [*encoder.layer1[3:], *encoder.layer2, *encoder.layer3, *encoder.layer4]
    assert tuple(len(stage) for stage in stages) == repeats
    assert sum(p.numel() for p in encoder.parameters()) == params
    assert encoder.feature_channels == channels and encoder.feature_strides == (4, 8, 16, 32)
    assert all(m.eps == 1e-3 for m in encoder.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        feats = encoder(torch.randn(2, 3, 64, 96))
    expected = [(2, c, 64 // s, 96 // s) for c, s in zip(channels, (4, 8, 16, 32), strict=True)]
    assert [tuple(f.shape) for f in feats] == expected


def test_unknown_encoder_is_refused():
    assert list_encoders() == list(ENCODERS)
    with pytest.raises(ValueError, match="efficientnet_lite9"):
        EfficientNetLite("efficientnet_lite9")


# ---- Registry and the model contract ----

def test_registry_builds_rebuildable_models():
    assert {"midas_small", "midas_small_lite0"} <= set(list_models())
    model = create_model("midas_small_lite0", features=16)
    assert model.config == {"name": "midas_small_lite0", "encoder": "efficientnet_lite0", "features": 16}
    config = json.loads(json.dumps(model.config))
    rebuilt = create_model(config.pop("name"), **config)
    assert layout_of(rebuilt) == layout_of(model)
    assert list(model.input_mean) == [0.485, 0.456, 0.406] and list(model.input_std) == [0.229, 0.224, 0.225]
    assert model.output_kind == "relative_inverse_depth" and model.stride == 32
    assert create_model("midas_small").config == {"name": "midas_small", "encoder": "efficientnet_lite3",
                                                  "features": 64}
    with pytest.raises(ModelConfigError, match="known: .*midas_small"):
        create_model("midas_huge")
    with pytest.raises(ModelConfigError, match="width"):
        create_model("midas_small", width=3)


def test_input_size_must_be_multiple_of_stride():
    model = create_model("midas_small_lite0").eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 96)).shape == (1, 64, 96)
        with pytest.raises(ValueError, match="multiples of 32, got 72x96"):
            model(torch.rand(1, 3, 72, 96))


# ---- Export friendliness ----

def test_fx_symbolic_trace_matches_eager():
    model = create_model("midas_small_lite0").eval()
    x = torch.rand(1, 3, 64, 96)
    traced = torch.fx.symbolic_trace(model)
    assert torch.equal(traced(x), model(x))


@pytest.mark.slow
def test_onnx_export_is_static_and_matches_torch(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = create_model("midas_small_lite0").eval()
    x = torch.rand(1, 3, 64, 96)
    path = tmp_path / "student.onnx"
    torch.onnx.export(model, (x,), str(path), dynamo=True, external_data=False, verbose=False)
    graph = onnx.load(str(path)).graph
    assert {n.op_type for n in graph.node} <= {"Conv", "Clip", "Add", "Relu", "Resize", "Squeeze"}
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = model(x).numpy()
    assert got.shape == want.shape == (1, 64, 96)
    assert np.abs(got - want).max() <= 1e-4 * (want.max() - want.min())

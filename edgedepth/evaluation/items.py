"""Evaluation data and the reference rows: the same samples, the same teacher predictions, for every artifact.

Every artifact sees the same left images prepared by `runtime.preprocess` for its own input spec; its raw outputs
are scored as its task's `Scoring` says (`edgedepth.evaluation.scoring`): raw against the torch fp32 student's
(fidelity), and restored to the sample's resolution against the teacher and ground truth as `alignment_text` says
for the task and output kind: relative depth after per-image scale-and-shift alignment in inverse-depth space (the
MiDaS protocol), metric depth and disparity unaligned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from edgedepth.data import get_dataset
from edgedepth.data.images import ImageFolder
from edgedepth.data.sample import StereoSample
from edgedepth.errors import ConfigError, EdgeDepthError
from edgedepth.evaluation.scoring import disparity_accuracy, gradient_rows, item_protocol, mean_dicts, teacher_as_depth
from edgedepth.tasks import get_task
from edgedepth.teachers.base import Prediction, Teacher
from runtime.bundle import DISPARITY, METRIC, RELATIVE
from runtime.metrics import input_dependence, mirror_equivariance, position_prior
from runtime.preprocess import output_map, prepare_input
from runtime.protocols import Protocol, get_protocol, score_depth

MOTORCYCLE = "middlebury-motorcycle"
MOTORCYCLE_AT_INPUT = "middlebury-motorcycle-at-input"
PROCEDURAL = "procedural-heldout"
IMAGES = "images-heldout"
BASELINE_CONSTANT = "baseline: constant"
BASELINE_GRADIENT = "baseline: top-to-bottom gradient"
# The position prior's noise: this many images of Gaussian pixels (mean 127, σ NOISE_SIGMA grey levels, seeded).
NOISE_IMAGES = 4
NOISE_SIGMA = 60.0
NOISE_SEED = 0


ALIGNMENT_RELATIVE = ("relative outputs aligned per image by least-squares scale and shift in inverse-depth space "
                      "(MiDaS protocol); fidelity is raw output agreement with the torch fp32 student")
ALIGNMENT_METRIC = ("metric depth compared raw (no alignment) with the metric teacher and with ground truth; "
                    "fidelity is raw output agreement with the torch fp32 student")


def alignment_text(task: str, output_kind: str) -> str:
    """How a report's rows compare outputs: the task's own wording, else by output kind (relative or metric)."""
    fixed = get_task(task).alignment
    if fixed is not None:
        return fixed
    return ALIGNMENT_METRIC if output_kind == METRIC else ALIGNMENT_RELATIVE


# The protocol each embedded set is scored by: the motorcycle is a Middlebury 2014 scene, scored as one.
EMBEDDED_PROTOCOLS = {MOTORCYCLE: "middlebury", MOTORCYCLE_AT_INPUT: "middlebury", PROCEDURAL: "procedural"}


@dataclass
class EvalItem:
    """One evaluation sample with the teacher's prediction on it, and how its ground truth is scored: the
    dataset's protocol (None: the plain procedural one) and, for depth, the alignment (None: by output kind)."""

    dataset: str
    sample: StereoSample
    teacher: Prediction | None  # None: a stereo teacher cannot see a single view (a mono benchmark)
    protocol: Protocol | None = None
    alignment: str | None = None


def eval_datasets(procedural_scenes: int, seed: int, height: int, width: int, motorcycle_width: int,
                  input_width: int | None = None) -> dict:
    """The embedded evaluation sets: the real Middlebury motorcycle pair and held-out procedural scenes; with
    `input_width`, the motorcycle pair once more at the student's own input width, where a teacher that sees
    the same pixels is compared on equal terms (stereo: SGBM at 448 px sees 1.75× the pixels of a 256-px
    student)."""
    sets = {MOTORCYCLE: get_dataset("motorcycle", max_width=motorcycle_width)}
    if input_width is not None:
        sets[MOTORCYCLE_AT_INPUT] = get_dataset("motorcycle", max_width=input_width)
    if procedural_scenes > 0:
        sets[PROCEDURAL] = get_dataset("procedural", n=procedural_scenes, seed=seed, height=height, width=width)
    return sets


def held_out_images(record: dict, folder: str | None = None) -> dict:
    """The evaluation set of a student distilled on photos: its held-out images as the checkpoint lists them, or
    every image of `folder` when one is given (a missing folder or image is a one-line error)."""
    if folder is not None:
        return {IMAGES: ImageFolder(folder, max_side=record.get("max_side", 1024))}
    if record.get("dataset") != "images" or not record.get("holdout"):
        raise EdgeDepthError("the student was not distilled on an image folder; pass the folder to evaluate on")
    images = ImageFolder(record["folder"], list(record["holdout"]), record.get("max_side", 1024))
    for name in images.files:
        if not (images.folder / name).is_file():
            raise EdgeDepthError(f"held-out image {images.folder / name} is gone (pass --images DIR to evaluate "
                                 "on another folder)")
    return {IMAGES: images}


def evaluation_sets(info, procedural_scenes: int, seed: int, motorcycle_width: int,
                    images: str | None = None) -> dict:
    """What a student is measured on: its held-out photos (or `images`) when it was distilled on photos; else the
    embedded sets: the motorcycle pair and held-out procedural scenes at twice the input size, and for stereo
    the motorcycle pair at the student's input width as well."""
    record = (info.training or {}).get("data", {})
    if images is not None or record.get("dataset") == "images":
        return held_out_images(record, images)
    height, width = info.input_size
    return eval_datasets(procedural_scenes, seed, height * 2, width * 2, motorcycle_width,
                         input_width=width if get_task(info.task).motorcycle_at_input else None)

def dataset_protocol(name: str, protocols: dict[str, str] | None = None) -> Protocol:
    """The protocol a dataset is scored by: the one `protocols` names for it, else the embedded set's own."""
    chosen = (protocols or {}).get(name) or EMBEDDED_PROTOCOLS.get(name, "procedural")
    return get_protocol(chosen)


def _protocol_choice(name: str, offered: tuple[str, ...], requested: list[str]) -> str:
    """The protocol of `requested` that dataset `name` offers (its default, the first offered, when none is)."""
    mine = [p for p in requested if p in offered]
    if len(mine) > 1:
        raise ConfigError(f"{name}: one protocol at a time, got {', '.join(mine)}")
    return mine[0] if mine else offered[0]


def check_benchmark(task: str, name: str, samples: Sequence[StereoSample]) -> None:
    """One-line refusal of a benchmark the task cannot be scored on: single views for a stereo student, or no
    depth (disparity without calibration) for a mono one; judged on the first sample."""
    first = samples[0]
    if get_task(task).output_kind == DISPARITY:
        if first.right is None or first.disparity is None:
            raise ConfigError(f"{name} holds single views with depth; a stereo student is scored on pairs with "
                              "disparity (kitti-stereo, middlebury, eth3d)")
    elif first.depth is None:
        raise ConfigError(f"{name}: {first.name} has disparity but no calibration, so no depth to score a mono "
                          "student on (Middlebury 2001–2006 ships none; use 2014/2021 scenes)")


def benchmark_sets(task: str, benchmarks: list[tuple[str, str]], requested: list[str] | None = None,
                   limit: int | None = None) -> tuple[dict, dict[str, str]]:
    """({dataset name: its samples}, {dataset name: protocol name}) of `--dataset NAME:DIR` pairs: each read by
    its registered reader (first `limit` samples), checked against the task, and given the requested protocol it
    offers (else its default). A requested protocol that no dataset offers is an error."""
    datasets, protocols, requested = {}, {}, list(requested or [])
    for name, folder in benchmarks:
        if name in datasets:
            raise ConfigError(f"--dataset {name} given twice; score one folder per benchmark per run")
        samples = get_dataset(name, folder=folder, limit=limit)
        offered = tuple(getattr(samples, "protocols", ())) or (EMBEDDED_PROTOCOLS.get(name, "procedural"),)
        check_benchmark(task, name, samples)
        datasets[name], protocols[name] = samples, _protocol_choice(name, offered, requested)
    unused = [p for p in requested if p not in protocols.values()]
    if unused:
        offers = "; ".join(f"{name}: {', '.join(getattr(datasets[name], 'protocols', ()))}" for name in datasets)
        raise ConfigError(f"--protocol {unused[0]} is not offered by the datasets given ({offers})")
    return datasets, protocols


def build_eval_items(datasets: dict[str, Sequence[StereoSample]], teacher: Teacher,
                     protocols: dict[str, str] | None = None, alignment: str | None = None) -> list[EvalItem]:
    """Run the teacher once on every evaluation sample (a stereo teacher only on pairs: single views get None);
    each item carries its dataset's protocol."""
    def predict(sample: StereoSample) -> Prediction | None:
        return None if sample.right is None and teacher.kind == DISPARITY else teacher.predict(sample)

    return [EvalItem(name, s, predict(s), dataset_protocol(name, protocols), alignment)
            for name, samples in datasets.items() for s in samples]


# Which view of a stereo sample feeds an input of this name (mono students see the left view).
_VIEWS = {"image": "left", "left": "left", "right": "right"}


def sample_feed(sample: StereoSample, specs: dict | list[dict], mirror: bool = False) -> dict[str, np.ndarray]:
    """{input name: prepared array} for every input spec: "image"/"left" get the left view, "right" the right;
    with `mirror`, each view flipped left-right first (the mirror sanity check of a mono model)."""
    specs = [specs] if isinstance(specs, dict) else specs
    feed = {}
    for spec in specs:
        view = _VIEWS.get(spec["name"])
        if view is None:
            raise ConfigError(f"no view of a stereo sample feeds an input named '{spec['name']}' "
                             f"(known: {', '.join(_VIEWS)})")
        image = getattr(sample, view)
        feed[spec["name"]] = prepare_input(np.ascontiguousarray(image[:, ::-1]) if mirror else image, spec)
    return feed


def collect_outputs(infer, specs: dict | list[dict], output_name: str, items: list[EvalItem]) -> list[np.ndarray]:
    """Raw outputs of one artifact (`infer`: dict → dict) on every item, prepared for its input spec(s)."""
    return [np.asarray(infer(sample_feed(item.sample, specs))[output_name]) for item in items]


def takes_pixels(specs: list[dict]) -> bool:
    """Whether an artifact receives 8-bit pixels with its normalisation inside (a CoreML image input)."""
    return any(spec.get("dtype") == "uint8" and spec.get("normalization") == "baked-in" for spec in specs)


def outputs_on_pixels(infer, specs: list[dict], pixel_specs: list[dict], output_name: str,
                      items: list[EvalItem]) -> list[np.ndarray]:
    """Raw outputs of `infer` (inputs `specs`) on the 8-bit pixels an artifact with inputs `pixel_specs` receives
    (each view resized, then rounded to uint8): the reference on the same inputs for such an artifact."""
    by_name = {spec["name"]: spec for spec in pixel_specs}
    outputs = []
    for item in items:
        pixels = sample_feed(item.sample, pixel_specs)
        feed = {}
        for spec in specs:
            pixel_spec = by_name[spec["name"]]
            image = pixels[spec["name"]][0]
            image = image.transpose(1, 2, 0) if pixel_spec["layout"] == "NCHW" else image
            if str(pixel_spec.get("color", "RGB")).upper() == "BGR":
                image = image[..., ::-1]
            feed[spec["name"]] = prepare_input(np.ascontiguousarray(image), spec)  # same size: no resampling
        outputs.append(np.asarray(infer(feed)[output_name]))
    return outputs


def _as_map(output: np.ndarray) -> np.ndarray:
    """One raw output as an H×W float map (batch and channel axes of size 1 dropped)."""
    return output_map(np.asarray(output, dtype=np.float32))


def sanity_items(items: list[EvalItem]) -> list[int]:
    """Indices of the held-out procedural scenes: unrelated scenes, on which the sanity checks run."""
    return [index for index, item in enumerate(items) if item.dataset == PROCEDURAL]


def sanity_metrics(infer: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], specs: dict | list[dict],
                   output_name: str, items: list[EvalItem], raw: list[np.ndarray]) -> dict | None:
    """Whether a mono model reads its image, on the held-out procedural scenes (None when there are none):
    input_dependence of its raw outputs (consecutive pairs; low = reads its image) and the mean
    mirror_equivariance, for which each scene is run once more, mirrored (1 = its output mirrors too); and, where
    a real photo is evaluated, the position_prior of its output on that photo (`position_sanity`)."""
    picks = sanity_items(items)
    if not picks:
        return None
    maps = [_as_map(raw[index]) for index in picks]
    mirrored = [_as_map(infer(sample_feed(items[index].sample, specs, mirror=True))[output_name]) for index in picks]
    mirrors = [mirror_equivariance(output, flipped) for output, flipped in zip(maps, mirrored, strict=True)]
    return {"input_dependence": input_dependence(maps) if len(maps) >= 2 else None,
            "mirror": float(np.mean(mirrors)), "samples": len(picks),
            **position_sanity(infer, specs, output_name, items, raw)}


def noise_images(shape: tuple[int, ...], count: int = NOISE_IMAGES) -> list[np.ndarray]:
    """`count` seeded 8-bit images of Gaussian pixels shaped like a photo (no scene in them at all)."""
    rng = np.random.default_rng(NOISE_SEED)
    return [np.clip(np.round(rng.normal(127.0, NOISE_SIGMA, shape)), 0, 255).astype(np.uint8) for _ in range(count)]


def position_sanity(infer: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], specs: dict | list[dict],
                    output_name: str, items: list[EvalItem], raw: list[np.ndarray]) -> dict:
    """{"position_prior", "position_photo"} on the first real photo among `items` (the motorcycle first), or {}
    when there is none: how much of the model's map of that photo it also paints on noise of the photo's size."""
    photos = [i for i, item in enumerate(items) if item.dataset == MOTORCYCLE]
    photos = photos or [i for i, item in enumerate(items) if item.dataset != PROCEDURAL]
    if not photos:
        return {}
    item = items[photos[0]]
    noise = [_as_map(infer(sample_feed(replace(item.sample, left=image), specs))[output_name])
             for image in noise_images(item.sample.left.shape)]
    return {"position_prior": position_prior(_as_map(raw[photos[0]]), noise), "position_photo": item.dataset}


def ground_truth_input_dependence(items: list[EvalItem]) -> float | None:
    """input_dependence of the ground-truth disparity (0 where invalid) over the held-out procedural scenes: what
    a perfect model would score, since unrelated scenes can still share a layout."""
    maps = [items[i].sample.disparity for i in sanity_items(items) if items[i].sample.disparity is not None]
    return input_dependence(maps) if len(maps) >= 2 else None


def _teacher_depth_stats(items: list[EvalItem]) -> tuple[float, float, float]:
    """(5th percentile, median, 95th percentile) of the teacher's depth over the usable pixels of `items`."""
    values = []
    for item in items:
        if item.teacher is None:  # no teacher on this set: the ground truth's own statistics
            if item.sample.depth is not None and item.sample.valid is not None:
                values.append(item.sample.depth[item.sample.valid])
            continue
        depth, mask = teacher_as_depth(item.teacher)
        values.append(depth[mask])
    pooled = np.concatenate(values) if values else np.zeros(0, np.float32)
    if pooled.size == 0:
        return 1.0, 1.0, 1.0
    low, median, high = np.percentile(pooled, [5, 50, 95])
    return float(low), float(median), float(high)


def baseline_outputs(items: list[EvalItem], height: int, width: int,
                     kind: str = RELATIVE) -> dict[str, tuple[list[np.ndarray], str]]:
    """{name: (one height × width raw output per item, notes)} for two maps that ignore the image, scored like any
    artifact: a constant, and a top-to-bottom gradient (nearer at the bottom, as on a ground plane). A relative
    map is the same for every image (alignment fits its scale and shift, of either sign, per image); a metric map
    is fixed per dataset, at the teacher's depth statistics over that dataset (a prior, not a look at the image)."""
    if kind != METRIC:
        constant = np.ones((1, height, width), np.float32)
        gradient = gradient_rows(height, width, 0.0, 1.0)  # inverse depth: 0 at the top row, 1 at the bottom
        return {
            BASELINE_CONSTANT: ([constant] * len(items),
                                "the same constant for every pixel and image; alignment makes it the best constant "
                                "fit of each image's inverse depth"),
            BASELINE_GRADIENT: ([gradient] * len(items),
                                "inverse depth rising linearly from the top row to the bottom row (nearer at the "
                                "bottom) for every image; aligned per image like any relative output (the fit may "
                                "flip it)"),
        }
    constants, gradients = {}, {}
    for name in dict.fromkeys(item.dataset for item in items):
        low, median, high = _teacher_depth_stats([item for item in items if item.dataset == name])
        constants[name] = np.full((1, height, width), median, np.float32)
        # Linear in inverse depth from the far 95th percentile (top) to the near 5th (bottom), then scaled so the
        # map's median depth is the teacher's.
        depth = 1.0 / gradient_rows(height, width, 1.0 / max(high, 1e-6), 1.0 / max(low, 1e-6))
        gradients[name] = (depth * np.float32(median / float(np.median(depth)))).astype(np.float32)
    return {
        BASELINE_CONSTANT: ([constants[item.dataset] for item in items],
                            "metric depth: the teacher's median depth over each dataset (the ground truth's where a "
                            "stereo teacher cannot see single views), at every pixel of every image"),
        BASELINE_GRADIENT: ([gradients[item.dataset] for item in items],
                            "metric depth, the same map for every image of a dataset: inverse depth linear from the "
                            "top row to the bottom row (nearer at the bottom), spanning the teacher's 95th to 5th "
                            "percentile depth over the dataset and scaled to its median depth"),
    }


def _teacher_depth(item: EvalItem, mask: np.ndarray) -> dict:
    """The teacher's depth errors on its own pixels `mask` under the item's protocol ({} when none are left)."""
    sample, prediction = item.sample, item.teacher
    if sample.depth is None or not item_protocol(item).depth_mask(sample.depth, mask).any():
        return {}
    # A disparity map read as depth is aligned like relative inverse depth.
    kind, alignment = (RELATIVE, None) if prediction.kind == DISPARITY else (prediction.kind, item.alignment)
    errors = score_depth(prediction.value, kind, sample.depth, mask, item_protocol(item), alignment)
    errors.pop("coverage", None)  # the teacher's coverage is of the ground truth, set by the caller
    return errors


def teacher_row_metrics(items: list[EvalItem]) -> dict:
    """Accuracy of the teacher itself against ground truth under each item's protocol: depth on the pixels it
    vouches for (coverage reported); disparity with its holes as misses and on its own pixels (`…_own`)."""
    accuracy = defaultdict(list)
    for item in items:
        sample, prediction = item.sample, item.teacher
        if prediction is None or sample.valid is None or (sample.depth is None and sample.disparity is None):
            continue
        mask = sample.valid & prediction.valid & (prediction.value > 0)
        entry = {"coverage": float(mask.sum() / max(1, sample.valid.sum()))}
        if mask.any():
            entry.update(_teacher_depth(item, mask))
        if prediction.kind == DISPARITY and sample.disparity is not None:  # holes as misses: defined even when empty
            entry.update(disparity_accuracy(prediction.value, item, prediction.valid) or {})
        accuracy[item.dataset].append(entry)
    return {"accuracy": {name: mean_dicts(values) for name, values in accuracy.items()}}


def sgbm_num_disparities(sample: StereoSample) -> int | None:
    """SGBM's disparity range for a sample: the benchmark's ndisp rounded up to a multiple of 16, None (SGBM's
    own default) where the benchmark gives none."""
    ndisp = None if sample.calib is None else sample.calib.ndisp
    return None if not ndisp else max(16, int(np.ceil(ndisp / 16.0)) * 16)


def sgbm_row_metrics(items: list[EvalItem]) -> dict:
    """The SGBM baseline of a stereo report: OpenCV StereoSGBM on every pair (range from ndisp where given),
    scored against ground truth as the teacher is (`teacher_row_metrics`)."""
    from edgedepth.teachers.sgbm import SGBMTeacher

    scored = [replace(item, teacher=SGBMTeacher(sgbm_num_disparities(item.sample)).predict(item.sample))
              for item in items if item.sample.right is not None]
    return teacher_row_metrics(scored)


def add_accuracy_drop(row: dict, student_row: dict) -> None:
    """Per dataset, what the artifact lost against the fp32 student: `delta1_drop` (δ1 of the student minus the
    artifact's) for depth, `bad2_rise` (the artifact's bad-2.0 minus the student's) for disparity; > 0 is worse."""
    reference = student_row.get("accuracy") or {}
    for name, metrics in (row.get("accuracy") or {}).items():
        base = reference.get(name, {})
        if "delta1" in metrics and "delta1" in base:
            metrics["delta1_drop"] = float(base["delta1"] - metrics["delta1"])
        if "bad2" in metrics and "bad2" in base:
            metrics["bad2_rise"] = float(metrics["bad2"] - base["bad2"])

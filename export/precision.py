"""What one precision of one format is, declared once in the exporter's table and read by every stage."""

from __future__ import annotations

from dataclasses import dataclass

FLOAT_REFERENCE = "fp32"
PARITY_SOURCES = ("synthetic", "calibration")


@dataclass(frozen=True)
class Precision:
    """One row of an exporter's precision table.

    `quantizer` names a method in `quantize.registry` that lowers the format's float model file (None: the
    format's own conversion writes this precision). `calibrated` precisions need representative inputs for
    activation ranges. `parity_inputs` says what the export-time comparison with torch feeds: image-like noise
    ("synthetic") or the last calibration inputs ("calibration": activation ranges only hold on data like
    those). `weight_storage` is how the large weights are stored ("fp32", "fp16", "int8", "lut64", …) and
    `small_weight_storage` how weights under the format's size threshold are, when it differs.
    """

    name: str
    calibrated: bool = False
    quantizer: str | None = None
    parity_inputs: str = "synthetic"
    weight_storage: str = "fp32"
    small_weight_storage: str | None = None

    def __post_init__(self) -> None:
        if self.parity_inputs not in PARITY_SOURCES:
            raise ValueError(f"parity_inputs must be one of {PARITY_SOURCES}, got {self.parity_inputs!r}")
        if self.parity_inputs == "calibration" and not self.calibrated:
            raise ValueError(f"precision {self.name}: calibration parity inputs need a calibrated precision")

    @property
    def is_float_reference(self) -> bool:
        """The precision every other one is compared with; its export must match torch within the fp32 gate."""
        return self.name == FLOAT_REFERENCE


def quantized(method: str, name: str | None = None) -> Precision:
    """A precision written by the quantization method `method`: its name (unless the format renames it, as
    OpenVINO names NNCF's int8 "int8"), calibration and weight storage are the method's own, read from
    `quantize.registry`; calibrated precisions are checked on calibration inputs."""
    from quantize.registry import get_method

    chosen = get_method(method)
    return Precision(name or chosen.precision, calibrated=chosen.calibrated, quantizer=method,
                     parity_inputs="calibration" if chosen.calibrated else "synthetic",
                     weight_storage=chosen.weight_storage)

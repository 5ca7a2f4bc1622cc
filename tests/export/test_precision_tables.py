"""Every exporter's precision table is consistent with the quantizer registry it names."""

import pytest

from export.precision import Precision, quantized
from export.registry import get_exporter, list_formats
from quantize.registry import METHODS, get_method


@pytest.mark.parametrize("fmt", list_formats())
def test_tables_name_registered_quantizers_that_agree_on_calibration(fmt):
    exporter = get_exporter(fmt)
    assert exporter.table[0].is_float_reference and exporter.model_file
    assert len(set(exporter.precisions)) == len(exporter.precisions)
    for row in exporter.table:
        if row.quantizer is not None:
            method = get_method(row.quantizer)
            assert method.calibrated == row.calibrated, (fmt, row)
        if row.parity_inputs == "calibration":
            assert row.calibrated


def test_every_method_reads_a_format_that_exports_its_precision():
    """`edgedepth quantize --method M` starts from an fp32 bundle of M's format and writes a precision that
    format's exporter also writes, so derived and exported bundles are the same kind of thing."""
    for name, method in METHODS.items():
        assert method.format in list_formats(), name
        assert method.precision in get_exporter(method.format).precisions, name


def test_rows_refuse_nonsense():
    with pytest.raises(ValueError, match="parity_inputs"):
        Precision("int8", parity_inputs="photos")
    with pytest.raises(ValueError, match="calibrated"):
        Precision("int8", parity_inputs="calibration")
    assert quantized("ort-qdq").calibrated
    with pytest.raises(ValueError, match="exports fp32"):
        get_exporter("onnx").precision("int3")


def test_a_quantized_precision_is_spelled_once_by_its_method():
    """Exporters' rows read a method's precision, calibration and weight storage; OpenVINO renames NNCF's."""
    for fmt in list_formats():
        for row in get_exporter(fmt).table:
            if row.quantizer is not None:
                method = get_method(row.quantizer)
                assert (row.calibrated, row.weight_storage) == (method.calibrated, method.weight_storage), row
                assert row.name == method.precision or (fmt, method.format) == ("openvino", "onnx"), row
    assert quantized("nncf", name="int8").name == "int8"

"""An ONNX depth graph as a torch module: the graph rewritten to the bundle contract and run by onnxruntime.

An `onnx:` original has no torch layers to trace. The module keeps the file's graph (pruned to the one output
used) and writes it in the bundle contract on demand — one float32 N×3×H×W (or N×H×W×3) input at the fixed size,
one float32 1×h×w output, the manifest's names — for the exporters that start from ONNX (`contract_model`). Its
`forward` runs the NCHW contract graph in onnxruntime on the CPU in fp32, so parity, calibration and the torch
reference row work as for any original.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

if TYPE_CHECKING:
    import onnx

# onnx TensorProto element types of the inputs and outputs the module takes and gives (float32 at the interface).
FLOAT32, FLOAT16, FLOAT64 = 1, 10, 11
ELEMENT_TYPES = {"float32": FLOAT32, "float16": FLOAT16, "float64": FLOAT64}


@dataclass(frozen=True)
class GraphInterface:
    """The file graph's own image input and depth output, and how the bundle contract differs from them."""

    input_name: str
    layout: str  # the file's input layout ("NCHW" or "NHWC")
    input_type: int  # onnx element type of the file's input
    size: tuple[int, int]  # the fixed H×W the contract takes
    output_name: str
    output_type: int
    output_shape: tuple[int, ...]  # the file's output at that size
    output_size: tuple[int, int]  # h×w of the one map it holds


def _subgraphs(node: onnx.NodeProto) -> list[onnx.GraphProto]:
    """The graphs a node's attributes hold (If branches, Loop and Scan bodies)."""
    graphs = []
    for attribute in node.attribute:
        if attribute.HasField("g"):
            graphs.append(attribute.g)
        graphs.extend(attribute.graphs)
    return graphs


def _names_read(node: onnx.NodeProto) -> set[str]:
    """Every value a node reads, the ones its subgraphs take from the enclosing scope included."""
    names = set(node.input)
    for graph in _subgraphs(node):
        for inner in graph.node:
            names |= _names_read(inner)
    return names


def _all_names(graph: onnx.GraphProto) -> set[str]:
    """Every value name a graph (and its subgraphs) uses."""
    names = {v.name for v in (*graph.input, *graph.output, *graph.value_info)} | {i.name for i in graph.initializer}
    for node in graph.node:
        names |= set(node.input) | set(node.output)
        for inner in _subgraphs(node):
            names |= _all_names(inner)
    return names


def rename_value(graph: onnx.GraphProto, old: str, new: str) -> None:
    """Call the value `old` `new` everywhere in `graph`: nodes, subgraphs, inputs, outputs, shapes, initializers."""
    for node in graph.node:
        for values in (node.input, node.output):
            for index, name in enumerate(values):
                if name == old:
                    values[index] = new
        for inner in _subgraphs(node):
            rename_value(inner, old, new)
    for entry in (*graph.input, *graph.output, *graph.value_info, *graph.initializer):
        if entry.name == old:
            entry.name = new


def _delete(field: Any, drop: list[int]) -> None:
    """Remove the entries at `drop` from a repeated protobuf field."""
    for index in sorted(drop, reverse=True):
        del field[index]


def prune_to(model: onnx.ModelProto, output: str) -> bool:
    """Keep only the graph output `output` and the nodes and initializers it depends on; True when anything
    else was there."""
    graph = model.graph
    needed, dead = {output}, []
    for index in reversed(range(len(graph.node))):
        if needed.intersection(graph.node[index].output):
            needed |= _names_read(graph.node[index])
        else:
            dead.append(index)
    unused = [i for i, entry in enumerate(graph.initializer) if entry.name not in needed]
    others = [i for i, entry in enumerate(graph.output) if entry.name != output]
    for field, drop in ((graph.node, dead), (graph.initializer, unused), (graph.output, others)):
        _delete(field, drop)
    return bool(dead or unused or others)


def name_nodes(model: onnx.ModelProto) -> int:
    """Give every unnamed node of the main graph a unique name (quantizers keep nodes float by name, and an
    empty name would stand for all of them); the number named."""
    used = {node.name for node in model.graph.node}
    named = 0
    for index, node in enumerate(model.graph.node):
        if not node.name:
            node.name = _free_name(f"{node.op_type}_{index}", used, "")
            used.add(node.name)
            named += 1
    return named


def _free_name(base: str, used: set[str], suffix: str = "_in_file") -> str:
    """`base` with the first suffix that no name in `used` has."""
    return next(name for name in (f"{base}{suffix}{i or ''}" for i in range(len(used) + 2)) if name not in used)


def _input_steps(interface: GraphInterface, layout: str) -> list[tuple[str, dict[str, Any]]]:
    """The ops between the contract's float32 input in `layout` and the file's input: a Transpose, a Cast."""
    steps: list[tuple[str, dict[str, Any]]] = []
    if layout != interface.layout:
        steps.append(("Transpose", {"perm": [0, 2, 3, 1] if layout == "NCHW" else [0, 3, 1, 2]}))
    if interface.input_type != FLOAT32:
        steps.append(("Cast", {"to": interface.input_type}))
    return steps


def contract_model(source: onnx.ModelProto, interface: GraphInterface, layout: str, input_name: str,
                   output_name: str) -> onnx.ModelProto:
    """The file's graph in the bundle contract: a float32 input `input_name` of 1×3×H×W (`layout` NCHW) or
    1×H×W×3 (NHWC), transposed and cast to what the file takes; the file's output cast to float32 and reshaped
    to 1×h×w as `output_name`."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(source)
    graph = model.graph
    used = _all_names(graph)
    old_in, old_out = interface.input_name, interface.output_name
    for name in {input_name, output_name} & used:  # the file's own values keep out of the interface's way
        fresh = _free_name(name, used)
        rename_value(graph, name, fresh)
        old_in, old_out = (fresh if old_in == name else old_in), (fresh if old_out == name else old_out)
    head, tail, current = [], [], input_name
    steps = _input_steps(interface, layout)
    for index, (op, attributes) in enumerate(steps):
        target = old_in if index == len(steps) - 1 else f"{input_name}_{op.lower()}"
        head.append(helper.make_node(op, [current], [target], name=f"{input_name}_{op.lower()}", **attributes))
        current = target
    if not steps:
        rename_value(graph, old_in, input_name)
    out_shape = [1, *interface.output_size]
    if interface.output_type != FLOAT32:
        tail.append(helper.make_node("Cast", [old_out], [f"{output_name}_float"], name=f"{output_name}_cast",
                                     to=FLOAT32))
        old_out = f"{output_name}_float"
    if tail or list(interface.output_shape) != out_shape:
        graph.initializer.append(numpy_helper.from_array(np.array(out_shape, np.int64), f"{output_name}_shape"))
        tail.append(helper.make_node("Reshape", [old_out, f"{output_name}_shape"], [output_name],
                                     name=f"{output_name}_reshape"))
    else:
        rename_value(graph, old_out, output_name)
    nodes = [*head, *graph.node, *tail]
    del graph.node[:]
    graph.node.extend(nodes)
    initializers = {entry.name for entry in graph.initializer}
    kept = [entry for entry in graph.input if entry.name in initializers]  # IR < 4 lists weights as inputs
    del graph.input[:], graph.output[:]
    graph.input.extend([helper.make_tensor_value_info(input_name, FLOAT32, [1, 3, *interface.size] if layout ==
                                                      "NCHW" else [1, *interface.size, 3]), *kept])
    graph.output.append(helper.make_tensor_value_info(output_name, FLOAT32, out_shape))
    return model


class OnnxGraphModule(nn.Module):
    """An ONNX file's depth graph (pruned to its one output), held serialized, in the bundle contract.

    `contract_model(layout, input name, output name)` is what the ONNX-based exporters write; `forward` runs the
    NCHW contract graph in onnxruntime (CPU, fp32; its session is made on first call, at torch's thread count,
    and never copied)."""

    def __init__(self, source: bytes, interface: GraphInterface, input_name: str, output_name: str) -> None:
        super().__init__()
        self.source, self.interface = source, interface
        self.names = (input_name, output_name)
        self._session: Any = None

    def extra_repr(self) -> str:
        height, width = self.interface.size
        return f"onnx graph of {len(self.source):,} bytes, {height}x{width} {self.interface.layout} input"

    def contract_model(self, layout: str = "NCHW", input_name: str | None = None,
                       output_name: str | None = None) -> onnx.ModelProto:
        """The held graph in the bundle contract for `layout`, with the given (default: the module's) names."""
        import onnx

        return contract_model(onnx.load_from_string(self.source), self.interface, layout,
                              input_name or self.names[0], output_name or self.names[1])

    def opset(self) -> int:
        """The held graph's opset of the default ONNX domain."""
        import onnx

        imports = onnx.load_from_string(self.source).opset_import
        return next((entry.version for entry in imports if entry.domain in ("", "ai.onnx")), 0)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if self._session is None:
            self._session = _session(self.contract_model().SerializeToString(), torch.get_num_threads())
        feed = np.ascontiguousarray(image.detach().cpu().numpy(), dtype=np.float32)
        return torch.from_numpy(self._session.run([self.names[1]], {self.names[0]: feed})[0])

    def __getstate__(self) -> dict[str, Any]:
        """Copies (every export deep-copies its model) leave the onnxruntime session behind."""
        state = dict(self.__dict__)
        state["_session"] = None
        return state


def _session(model: bytes, threads: int) -> Any:
    """A CPU onnxruntime session of a serialized model, sequential, at `threads` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = max(1, int(threads))
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])

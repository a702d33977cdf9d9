"""Import an ONNX file as a DeepWire network (needs the optional `onnx` package).

Maps the common operators of the block catalog, with their weights read by
onnx.numpy_helper: Conv, Gemm, MatMul (+ Add of a bias), Relu, Sigmoid, Tanh,
LeakyRelu, Elu, Gelu, Softmax, LogSoftmax, MaxPool, AveragePool,
GlobalAveragePool/GlobalMaxPool and ReduceMean over all positions,
BatchNormalization, Flatten, Reshape (judged by the shapes it produces),
Transpose, Add, Mul, Concat, Dropout and Identity. Any other operator, or one
with settings no block expresses, becomes an Unsupported block named after
it. The imported model's outputs are compared with onnxruntime's when
onnxruntime is installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from graph.spec import Registry
from runtime.importing.fx_import import ModelImportError
from runtime.importing.mapped import Mapped, NoBlockError, single
from runtime.importing.network_builder import Head, ImportedNetwork, NetworkBuilder, head_for
from runtime.importing.onnx_scopes import ScopeTree, is_layer, node_operation, node_scope

EPS = 1e-5


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelImportError("importing ONNX files needs the onnx package: pip install onnx") from None
    return onnx, numpy_helper


def _attrs(node) -> dict[str, Any]:
    onnx, _ = _onnx()
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _dims(value_info) -> tuple | None:
    tensor = value_info.type.tensor_type
    if not tensor.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim)


class OnnxConverter:
    def __init__(self, model, registry: Registry, heads: list[Head] | Head | None):
        onnx, self.numpy_helper = _onnx()
        try:
            model = onnx.shape_inference.infer_shapes(model)
        except Exception:  # noqa: BLE001 - shapes then come only from what the file already records
            pass
        self.graph = model.graph
        self.heads = heads
        self.build = NetworkBuilder(registry, "model")
        self.init = {t.name: self.numpy_helper.to_array(t) for t in self.graph.initializer}
        for node in self.graph.node:  # constants written as nodes are initializers too
            if node.op_type == "Constant" and node.attribute and node.attribute[0].HasField("t"):
                self.init[node.output[0]] = self.numpy_helper.to_array(node.attribute[0].t)
        self.shapes: dict[str, tuple] = {}
        for info in [*self.graph.input, *self.graph.value_info, *self.graph.output]:
            dims = _dims(info)
            if dims is not None:
                self.shapes[info.name] = dims
        self.value: dict[str, Any] = {}  # tensor name -> block id, or ("pool", kind, source, keepdims)
        self.users: dict[str, list] = {}
        for node in self.graph.node:
            for name in node.input:
                self.users.setdefault(name, []).append(node)
        self.skip: set[int] = set()  # nodes folded into an earlier block (a MatMul's bias Add)
        self.first_input: str | None = None
        self.tree = ScopeTree()  # the module paths and classes the exporter recorded (onnx_scopes.py)
        self.names: dict[int, str] = {}  # id(node) -> the block name its module path or operation gives

    # --- helpers ---
    def _name(self, node) -> str:
        return self.names.get(id(node)) or node.name or node.output[0]

    def shape(self, name: str) -> tuple | None:
        """Shape without the batch, when every size is known."""
        full = self.shapes.get(name)
        if not full or any(not isinstance(d, int) or d <= 0 for d in full[1:]):
            return None
        return tuple(full[1:])

    def need(self, name: str) -> str:
        value = self.value.get(name)
        if isinstance(value, str):
            return value
        if isinstance(value, tuple) and value[0] == "pool":
            return self._pool(value, flat=not value[3], name=name)
        raise ModelImportError(f"the ONNX graph uses '{name}' before it is computed; is the file valid?")

    def _pool(self, pending, flat: bool, name: str) -> str:
        _, kind, source, keepdims = pending
        bid = self.value.get(("pool", source))
        if bid is None:
            bid = self.build.add(kind, f"{kind[6:].lower()}_pool", {}, [self.need(source)])
            self.value[("pool", source)] = bid
        if flat:
            return bid
        shape = self.shape(name) or self.shape(source)
        keep = self.value.get(("keep", source))
        if keep is None:
            kept = (shape[0], *([1] * (len(self.shape(source) or (0, 0, 0)) - 1)))
            keep = self.build.add("Reshape", f"{name}_keepdims", {"shape": kept}, [bid])
            self.value[("keep", source)] = keep
        return keep

    def _weights(self, **arrays) -> dict[str, torch.Tensor]:
        return {k: torch.from_numpy(np.array(v, dtype=np.float32 if v.dtype.kind == "f" else v.dtype))
                for k, v in arrays.items() if v is not None}

    def unsupported(self, node, detail: str = "") -> None:
        sources = [self.need(n) for n in node.input if n and n in self.value and n not in self.init]
        if not sources and self.first_input:
            sources = [self.first_input]
        out = node.output[0]
        bid = self.build.unsupported(f"ONNX {node.op_type}", self._name(node), sources, detail,
                                     self.shape(out))
        for name in node.output:
            self.value[name] = bid

    # --- the walk ---
    def convert(self) -> ImportedNetwork:
        for info in self.graph.input:
            if info.name in self.init:
                continue
            self._input(info)
        for index, node in enumerate(self.graph.node):
            if index in self.skip or node.op_type == "Constant":
                continue
            self.build.scope, chain = node_scope(node)
            self.tree.record(chain)
            if chain:  # a layer by its module path (layer1.0.conv1), as the torch.fx import names it
                self.names[id(node)] = self.build.scope if is_layer(chain[-1][1]) else node_operation(node)
            try:
                self._node(index, node)
            except NoBlockError as why:
                self.unsupported(node, str(why))
        self.build.scope = ""
        for i, out in enumerate(self.graph.output):
            type_id, params = head_for(self.heads, i)
            params = dict(params)
            shape = self.shape(out.name)
            if type_id == "ClassificationHead" and shape:
                params["classes"] = shape[-1]
            name = "output" if len(self.graph.output) == 1 else f"output_{i + 1}"
            self.build.add(type_id, name, params, [self.need(out.name)])
        self.build.layout()
        return self.build.result

    def _input(self, info) -> None:
        shape = self.shape(info.name)
        if shape is None:
            raise ModelImportError(f"ONNX input '{info.name}' has no fixed sizes after the batch "
                                   f"({self.shapes.get(info.name)}); DeepWire inputs need them")
        rank = len(shape)
        if rank == 1:
            type_id, params = "VectorInput", {"features": shape[0]}
        elif rank == 2:
            type_id, params = "SequenceInput", {"length": shape[0], "features": shape[1]}
        elif rank == 3:
            type_id, params = "ImageInput", {"channels": shape[0], "height": shape[1], "width": shape[2]}
        else:
            raise ModelImportError(f"ONNX input '{info.name}' has shape {shape} after the batch: DeepWire "
                                   "inputs are vectors, sequences or images")
        bid = self.build.add(type_id, info.name, params)
        self.value[info.name] = bid
        self.first_input = self.first_input or bid

    def _place(self, node, mapped: Mapped, inputs: list[str]) -> None:
        if mapped.type in ("Add", "Multiply"):
            first = self.value.get(inputs[0])
            block = self.build.net.blocks.get(first) if isinstance(first, str) else None
            outputs = [i.name for i in self.graph.output]
            if block is not None and block.type == mapped.type and len(self.users.get(inputs[0], [])) == 1 \
                    and not self.build.net.edges_from(first) and inputs[0] not in outputs:
                self.build.extend(first, self.need(inputs[1]))
                self.value[node.output[0]] = first
                return
        bid = self.build.add(mapped.type, self._name(node), mapped.params,
                             [self.need(n) for n in inputs], mapped.weights)
        self.value[node.output[0]] = bid

    def _node(self, index: int, node) -> None:  # noqa: C901 - one branch per operator reads best here
        op, a = node.op_type, _attrs(node)
        x = node.input[0] if node.input else ""
        out = node.output[0]
        plain = {"Relu": "ReLU", "Sigmoid": "Sigmoid", "Tanh": "Tanh"}
        if op in plain:
            self._place(node, Mapped(plain[op]), [x])
        elif op == "LeakyRelu":
            self._place(node, Mapped("LeakyReLU", {"negative_slope": float(a.get("alpha", 0.01))}), [x])
        elif op == "Elu":
            self._place(node, Mapped("ELU", {"alpha": float(a.get("alpha", 1.0))}), [x])
        elif op == "Gelu":
            approximate = a.get("approximate", b"none")
            approximate = approximate.decode() if isinstance(approximate, bytes) else approximate
            self._place(node, Mapped("GELU", {"approximate": approximate}), [x])
        elif op in ("Softmax", "LogSoftmax"):
            axis = int(a.get("axis", -1))
            if axis == 0:
                raise NoBlockError("axis 0, the batch axis")
            self._place(node, Mapped(op, {"dim": axis}), [x])
        elif op in ("Identity", "Dropout") and x in self.init:
            self.init[out] = self.init[x]  # torch.onnx's alias of a shared or equal weight
        elif op in ("Identity", "Dropout"):
            # an exported model is in eval mode: dropout does nothing; a pending pooling stays pending
            self.value[out] = self.value[x] if isinstance(self.value.get(x), tuple) else self.need(x)
        elif op == "Conv":
            self._conv(node, a)
        elif op == "Gemm":
            self._gemm(node, a)
        elif op == "MatMul":
            self._matmul(index, node)
        elif op in ("MaxPool", "AveragePool"):
            self._pool_node(node, a)
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            kind = "GlobalAvgPool" if op == "GlobalAveragePool" else "GlobalMaxPool"
            self.value[out] = ("pool", kind, x, True)
        elif op == "ReduceMean":
            self._reduce_mean(node, a)
        elif op == "BatchNormalization":
            self._batch_norm(node, a)
        elif op in ("Flatten", "Reshape"):
            self._reshape(node, a)
        elif op == "Transpose":
            perm = list(a.get("perm", []))
            if not perm or perm[0] != 0:
                raise NoBlockError("it moves the batch axis")
            self._place(node, Mapped("Permute", {"dims": tuple(perm[1:])}), [x])
        elif op in ("Add", "Mul"):
            if any(n in self.init for n in node.input[:2]) or self.shapes.get(node.input[0]) != \
                    self.shapes.get(node.input[1]):
                raise NoBlockError("a constant or differently shaped operand (broadcasting)")
            merge = "Add" if op == "Add" else "Multiply"
            self._place(node, Mapped(merge, {"inputs": 2}), list(node.input[:2]))
        elif op == "Concat":
            self._concat(node, a)
        else:
            raise NoBlockError("")

    def _conv(self, node, a) -> None:
        w = self.init.get(node.input[1])
        if w is None:
            raise NoBlockError("weights computed in the graph rather than stored")
        bias = self.init.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET"):
            raise NoBlockError(f"auto_pad {a['auto_pad']!r}")
        pads = list(a.get("pads", [0] * (2 * (w.ndim - 2))))
        if len(set(pads)) > 1:
            raise NoBlockError(f"uneven padding {pads}")
        type_id = {3: "Conv1d", 4: "Conv2d"}.get(w.ndim)
        if type_id is None:
            raise NoBlockError(f"a {w.ndim - 2}D convolution")
        params = {"channels": int(w.shape[0]), "kernel_size": single(list(w.shape[2:]), "kernel_size"),
                  "stride": single(list(a.get("strides", [1])), "stride"), "padding": pads[0] if pads else 0,
                  "dilation": single(list(a.get("dilations", [1])), "dilation"),
                  "groups": int(a.get("group", 1)), "bias": bias is not None}
        self._place(node, Mapped(type_id, params, self._weights(weight=w, bias=bias)), [node.input[0]])

    def _gemm(self, node, a) -> None:
        w = self.init.get(node.input[1])
        if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
            raise NoBlockError("a Gemm that is not a plain linear layer")
        weight = w if a.get("transB", 0) else w.T
        bias = self.init.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        if bias is not None and bias.shape != (weight.shape[0],):
            raise NoBlockError(f"a bias of shape {bias.shape}")
        params = {"features": int(weight.shape[0]), "bias": bias is not None}
        self._place(node, Mapped("Linear", params, self._weights(weight=weight, bias=bias)), [node.input[0]])

    def _matmul(self, index: int, node) -> None:
        w = self.init.get(node.input[1])
        if w is None or w.ndim != 2:
            raise NoBlockError("a product of two computed tensors")
        weight, bias, out = w.T, None, node.output[0]
        users = self.users.get(out, [])
        if len(users) == 1 and users[0].op_type == "Add":
            other = [n for n in users[0].input if n != out]
            if other and other[0] in self.init and self.init[other[0]].shape == (weight.shape[0],):
                bias = self.init[other[0]]
                self.skip.add(list(self.graph.node).index(users[0]))
                out = users[0].output[0]
        params = {"features": int(weight.shape[0]), "bias": bias is not None}
        bid = self.build.add("Linear", self._name(node), params, [self.need(node.input[0])],
                             self._weights(weight=weight, bias=bias))
        self.value[out] = bid

    def _pool_node(self, node, a) -> None:
        kernel = list(a.get("kernel_shape", []))
        type_id = {1: "Pool1d", 2: "Pool2d"}.get(len(kernel))
        if type_id is None:
            raise NoBlockError(f"a {len(kernel)}D pooling")
        pads = list(a.get("pads", [0] * 2 * len(kernel)))
        if len(set(pads)) > 1:
            raise NoBlockError(f"uneven padding {pads}")
        k = single(kernel, "kernel_size")
        stride = single(list(a.get("strides", [1])), "stride")
        params: dict[str, Any] = {"kernel_size": k, "stride": 0 if stride == k else stride,
                                  "padding": pads[0]}
        if node.op_type == "MaxPool":
            if single(list(a.get("dilations", [1])), "dilation") != 1 or len(node.output) > 1:
                raise NoBlockError("dilation or indices")
            params["ceil_mode"] = bool(a.get("ceil_mode", 0))
            type_id = "Max" + type_id
        else:
            if a.get("ceil_mode", 0) or (pads[0] and not a.get("count_include_pad", 0)):
                raise NoBlockError("ceil_mode, or padding left out of the average")
            type_id = "Avg" + type_id
        self._place(node, Mapped(type_id, params), [node.input[0]])

    def _reduce_mean(self, node, a) -> None:
        x = node.input[0]
        axes = a.get("axes")
        if axes is None and len(node.input) > 1:
            axes = self.init.get(node.input[1])
        full = self.shapes.get(x)
        if axes is None or full is None:
            raise NoBlockError("a mean over unknown axes")
        rank = len(full)
        if sorted(int(d) % rank for d in np.atleast_1d(axes)) != list(range(2, rank)) or rank not in (3, 4):
            raise NoBlockError("a mean over other axes than all the positions of (B, C, ...)")
        self.value[node.output[0]] = ("pool", "GlobalAvgPool", x, bool(a.get("keepdims", 1)))

    def _batch_norm(self, node, a) -> None:
        scale, bias, mean, var = (self.init.get(n) for n in node.input[1:5])
        if any(v is None for v in (scale, bias, mean, var)):
            raise NoBlockError("statistics computed in the graph (training mode)")
        eps = float(a.get("epsilon", 1e-5))
        rank = len(self.shapes.get(node.input[0]) or ())
        type_id = "BatchNorm2d" if rank == 4 else "BatchNorm1d"
        momentum = round(1.0 - float(a.get("momentum", 0.9)), 6)
        weights = self._weights(weight=scale, bias=bias, running_mean=mean, running_var=var,
                                num_batches_tracked=np.array(0, dtype=np.int64))
        params = {"momentum": momentum} if abs(eps - EPS) <= 1e-9 else {"momentum": momentum, "eps": eps}
        self._place(node, Mapped(type_id, params, weights), [node.input[0]])

    def _reshape(self, node, a) -> None:
        x, out = node.input[0], node.output[0]
        before, after = self.shapes.get(x), self.shapes.get(out)
        if node.op_type == "Flatten" and int(a.get("axis", 1)) != 1:
            raise NoBlockError(f"axis {a.get('axis')}")
        flat = node.op_type == "Flatten" or (after is not None and len(after) == 2)
        if after is not None and before is not None and before[0] != after[0]:
            raise NoBlockError("it changes the batch axis")
        pending = self.value.get(x)
        if flat:
            if isinstance(pending, tuple):
                self.value[out] = self._pool(pending, flat=True, name=out)
                return
            self._place(node, Mapped("Flatten"), [x])
            return
        shape = self.shape(out)
        if shape is None or not 1 <= len(shape) <= 4:
            raise NoBlockError("a target shape that is not fixed, or of more than 4 axes after the batch")
        self._place(node, Mapped("Reshape", {"shape": shape}), [x])

    def _concat(self, node, a) -> None:
        axis = int(a.get("axis", 1))
        full = self.shapes.get(node.output[0])
        rank = len(full) - 1 if full else None
        if rank is None or axis % (rank + 1) == 0:
            raise NoBlockError("joining along the batch axis, or unknown shapes")
        axis = axis % (rank + 1)
        params = {"inputs": len(node.input)}
        if axis != (1 if rank == 3 else rank):
            params["axis"] = axis
        self._place(node, Mapped("Concatenate", params), list(node.input))


def _compare_with_onnxruntime(path: Path):
    """A function giving output_difference() between the rebuilt model and onnxruntime's outputs."""
    from runtime.importing.importer import output_difference

    def run(model) -> tuple[float, bool]:
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        generator = torch.Generator().manual_seed(0)
        feed, args = {}, []
        for info in session.get_inputs():
            shape = [3 if not isinstance(d, int) else d for d in info.shape]
            x = torch.randn(*shape, generator=generator)
            feed[info.name] = x.numpy()
            args.append(x)
        want = session.run(None, feed)
        model.eval()
        with torch.no_grad():
            got = model(*args)
        got = got if isinstance(got, (tuple, list)) else (got,)
        return output_difference([np.asarray(w) for w in want], list(got))
    return run


def onnx_definitions(converter: OnnxConverter, imported: ImportedNetwork, registry: Registry):
    """The repeated modules the file records (onnx_scopes.py) as block definitions, as module_classes makes
    them for a torch.fx import; None (plain blocks) when the file records no module classes."""
    from graph.model import Definitions
    from runtime.importing.module_classes import make_definitions
    from runtime.importing.module_groups import module_groups

    if not converter.tree:
        return None
    library = Definitions()
    imported.notes += make_definitions(imported, converter.tree, converter.tree.leaves(), registry, library)
    net = imported.network
    starts = {bid for bid, b in net.blocks.items()
              if b.type in registry and registry.get(b.type).role == "input"}
    net.set_groups(module_groups(net, imported.scopes, starts))
    return library


def import_onnx_file(path: Path, out, registry: Registry, head: str | None = None, flat: bool = False):
    """`deepwire import model.onnx`: the ImportReport, as for a PyTorch module.

    A file that records its modules (torch.onnx.export's dynamo exporter) gets a block definition per
    repeated module class, unless `flat`."""
    import importlib.util

    from runtime.importing.importer import HEADS, ImportReport, check_import, data_note
    from runtime.importing.project_writer import build_project, checkpoint_by_block, project_paths, write

    onnx, _ = _onnx()
    if not path.is_file():
        raise ModelImportError(f"{path}: no such file")
    try:
        model = onnx.load(str(path))
    except Exception as err:  # a damaged or foreign file
        raise ModelImportError(f"{path}: not an ONNX model onnx can read ({err})") from None
    heads = (HEADS[head], {}) if head else None
    converter = OnnxConverter(model, registry, heads)
    imported = converter.convert()
    library = None if flat else onnx_definitions(converter, imported, registry)
    stem = path.name[: -len(".onnx")]
    project_path, weights_path = project_paths(out, stem)
    project, found = build_project(stem, [imported], registry, weights_path.name,
                                   f"Imported from {path.name} by 'deepwire import'.", library)
    has_runtime = importlib.util.find_spec("onnxruntime") is not None
    # NaN: not compared (the import itself is fine)
    compare = _compare_with_onnxruntime(path) if has_runtime else (lambda model: float("nan"))
    reports, checkpoint = check_import(project, [imported], [path.name], registry, [compare])
    notes = list(imported.notes)
    notes += [] if has_runtime else ["outputs not compared with the ONNX file: pip install onnxruntime"]
    notes.append(data_note(project, found, [imported], registry))
    write(project, checkpoint or checkpoint_by_block([imported]), project_path, weights_path)
    return ImportReport(project_path, weights_path, reports, notes)

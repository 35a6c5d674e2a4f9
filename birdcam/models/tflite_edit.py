"""Editing a TFLite classifier without TensorFlow: find its classifier layer, read it, append classes to it.

The flatbuffer is read and written with the schema LiteRT ships (`ai_edge_litert.schema_py_generated`,
the object API over the `flatbuffers` package). The classifier layer is the FULLY_CONNECTED operator
the model's output comes from, through at most a softmax, reshapes and (de)quantizations; its input
is the feature vector the backbone computes. Weights stored as uint8 / int8 (per tensor or per
row), float16 (through a DEQUANTIZE operator) or float32 are read as float32 and written back in the
same storage, so the starter's quantized layer and the trainer's float and dynamic-range exports
are all extended the same way. The zip of label files TF Hub and the trainer append to a model is
split off on reading and written back with a line more per new class.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import flatbuffers
import numpy as np

from birdcam.errors import ModelError

_IDENTIFIER = b"TFL3"
_BUFFER_ALIGNMENT = 16  # the schema's force_align of Buffer.data: LiteRT reads constants in place
_FULLY_CONNECTED, _SOFTMAX, _RESHAPE, _DEQUANTIZE, _QUANTIZE, _SQUEEZE = 9, 25, 22, 6, 114, 43
_PASS_THROUGH = frozenset({_SOFTMAX, _RESHAPE, _QUANTIZE, _DEQUANTIZE, _SQUEEZE})
"""Operators that may stand between the classifier layer and the output: they keep one value per class."""
_TYPES: dict[int, Any] = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 9: np.int8}
"""TFLite TensorType -> NumPy dtype, for the tensors a classifier layer holds."""


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


@dataclass(frozen=True)
class ClassifierLayer:
    """Where a model's classifier layer is: tensor and operator indices in its first subgraph."""

    operator: int
    """The FULLY_CONNECTED operator."""
    features: int
    """Its input: the feature vector of one image."""
    weights: int
    """The tensor holding its weights [classes, features] (a float16 constant behind a DEQUANTIZE for
    float16 models)."""
    weights_input: int
    """The tensor the operator reads as weights: `weights` itself, or the DEQUANTIZE's float32 output."""
    bias: int | None
    """Its bias [classes], None when it has none."""
    per_class: tuple[int, ...]
    """Every non-constant tensor from its output to the model's output (one value per class each)."""
    classes: int
    """Outputs of the layer (= of the model)."""
    feature_size: int
    """Length of the feature vector."""


class TFLiteModel:
    """A TFLite flatbuffer as an editable object, with the label files appended to it."""

    def __init__(self, content: bytes, *, name: str = "the model"):
        self.name = name
        if len(content) < 8 or content[4:8] != _IDENTIFIER:
            raise ModelError(f"{name} is not a TFLite model (no TFL3 header); give a .tflite file.")
        self.archive = appended_files(content)
        """{member name: bytes} of the zip appended to the flatbuffer (labels), {} when there is none."""
        try:
            self.model = _schema().ModelT.InitFromPackedBuf(bytearray(content), 0)
        except Exception as error:  # a damaged flatbuffer fails anywhere inside the generated reader
            raise ModelError(f"{name} is not a valid TFLite model (truncated or corrupt?): {error}.") from None
        if not self.model.subgraphs:
            raise ModelError(f"{name} holds no graph; give a TFLite classifier.")
        self.graph = self.model.subgraphs[0]

    @classmethod
    def from_path(cls, path) -> TFLiteModel:
        try:
            content = open(path, "rb").read()
        except OSError as error:
            raise ModelError(f"cannot read model file {path}: {error.strerror}.") from None
        return cls(content, name=str(path))

    # -- finding the classifier layer ------------------------------------------------------

    def classifier_layer(self) -> ClassifierLayer:
        """The FULLY_CONNECTED layer whose outputs are the model's class scores; ModelError when there is none."""
        graph = self.graph
        producers = {out: i for i, op in enumerate(graph.operators or []) for out in (op.outputs or [])}
        if len(graph.outputs or []) < 1:
            raise ModelError(f"{self.name} has no output; it is not a classifier.")
        tensor, per_class = int(graph.outputs[0]), []
        while True:
            per_class.append(tensor)
            index = producers.get(tensor)
            if index is None:
                break
            op = graph.operators[index]
            code = self._code(op)
            if code == _FULLY_CONNECTED:
                return self._layer(index, tuple(reversed(per_class)))
            if code not in _PASS_THROUGH:
                break
            tensor = int(op.inputs[0])
        raise ModelError(
            f"{self.name} has no classifier layer birdcam can extend (a fully connected layer feeding its output, "
            "through at most a softmax); extend a classifier such as the starter model or one `birdcam train` made."
        )

    def _layer(self, index: int, per_class: tuple[int, ...]) -> ClassifierLayer:
        op = self.graph.operators[index]
        features, weights_input = int(op.inputs[0]), int(op.inputs[1])
        bias = int(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
        weights = weights_input
        if self._data(weights) is None:  # float16 weights: a constant behind a DEQUANTIZE
            producer = next((o for o in self.graph.operators if weights_input in list(o.outputs)), None)
            if producer is None or self._code(producer) != _DEQUANTIZE or self._data(int(producer.inputs[0])) is None:
                raise ModelError(f"the classifier layer of {self.name} computes its weights; it cannot be extended.")
            weights = int(producer.inputs[0])
        shape = [int(n) for n in self.graph.tensors[weights].shape]
        if len(shape) != 2 or (bias is not None and self._data(bias) is None):
            raise ModelError(
                f"the classifier layer of {self.name} is not a plain matrix and bias; it cannot be extended."
            )
        return ClassifierLayer(index, features, weights, weights_input, bias, per_class, shape[0], shape[1])

    # -- reading ------------------------------------------------------------------------------

    def layer_arrays(self, layer: ClassifierLayer) -> tuple[np.ndarray, np.ndarray]:
        """(weights [classes, features], bias [classes]) as float32, dequantized."""
        weights = self._dequantized(layer.weights).reshape(layer.classes, layer.feature_size)
        bias = self._dequantized(layer.bias) if layer.bias is not None else np.zeros(layer.classes, np.float32)
        return weights, bias.reshape(layer.classes)

    def backbone_fingerprint(self, layer: ClassifierLayer) -> bytes:
        """Bytes that identify what computes the features: every constant but the classifier layer's, and the
        graph's structure. An extended model has the fingerprint of the model it extends."""
        import hashlib

        digest = hashlib.sha256()
        skip = {self.graph.tensors[t].buffer for t in (layer.weights, layer.bias) if t is not None}
        for tensor_index, tensor in enumerate(self.graph.tensors):
            if tensor_index in layer.per_class or tensor_index in (layer.weights, layer.weights_input, layer.bias):
                continue
            digest.update(f"{tensor_index}:{list(tensor.shape)}:{tensor.type};".encode())
            data = self.model.buffers[tensor.buffer].data if tensor.buffer not in skip else None
            if data is not None:
                digest.update(np.asarray(data, np.uint8).tobytes())
        for op in self.graph.operators:
            digest.update(f"{self._code(op)}:{list(op.inputs)}>{list(op.outputs)};".encode())
        return digest.digest()

    # -- editing ------------------------------------------------------------------------------

    def with_feature_output(self, layer: ClassifierLayer) -> bytes:
        """The model with the classifier layer's input as a second output, for reading features (no labels)."""
        outputs = list(self.graph.outputs)
        self.graph.outputs = [*outputs, layer.features]
        try:
            return self.flatbuffer()
        finally:
            self.graph.outputs = outputs

    def set_layer(
        self, layer: ClassifierLayer, weights: np.ndarray, bias: np.ndarray, logit_range: tuple[float, float]
    ):
        """Replaces the classifier layer by `weights` [classes', features] and `bias` [classes'] (float32), stored as
        the layer stores them; `classes'` >= the old count, the rows beyond it being new classes.

        `logit_range` is the span of logits the layer must represent: a quantized output takes the wider of it
        and its own range, so new classes' scores are not clipped.
        """
        weights = np.asarray(weights, np.float32)
        bias = np.asarray(bias, np.float32)
        classes = weights.shape[0]
        if weights.shape[1] != layer.feature_size or bias.shape != (classes,) or classes < layer.classes:
            raise ValueError("weights must be [classes >= old classes, features] with a bias of [classes]")
        tensors = self.graph.tensors
        w_tensor = tensors[layer.weights]
        stored_weights, w_scale = _quantize_like(weights, w_tensor)
        self._store(layer.weights, stored_weights, (classes, layer.feature_size))
        if layer.weights_input != layer.weights:
            _set_shape(tensors[layer.weights_input], (classes, layer.feature_size))
        if layer.bias is None and np.any(bias):
            raise ModelError(f"the classifier layer of {self.name} has no bias; it cannot take the new classes.")
        if layer.bias is not None:
            b_tensor = tensors[layer.bias]
            if _TYPES[b_tensor.type] == np.int32:  # quantized: scale = input scale x weight scale
                input_scale = float(_scales(tensors[layer.features])[0])
                scales = np.broadcast_to(np.asarray(w_scale, np.float64) * input_scale, (classes,))
                q = np.clip(np.round(bias / scales), -(2**31), 2**31 - 1).astype(np.int32)
                b_tensor.quantization.scale = (
                    [float(s) for s in scales] if len(np.atleast_1d(w_scale)) > 1 else [float(scales[0])]
                )
                b_tensor.quantization.zeroPoint = [0] * len(b_tensor.quantization.scale)
                self._store(layer.bias, q, (classes,))
            else:
                self._store(layer.bias, bias.astype(_TYPES[b_tensor.type]), (classes,))
        for index in layer.per_class:
            _set_shape(tensors[index], (*[int(n) for n in tensors[index].shape[:-1]], classes))
        _widen_output_range(tensors[layer.per_class[0]], logit_range)
        for op in self.graph.operators:
            if self._code(op) == _RESHAPE and int(op.outputs[0]) in layer.per_class:
                self._reshape_to(op, classes)

    def flatbuffer(self) -> bytes:
        """The model serialized, constants aligned to 16 bytes, no appended files."""
        builder = flatbuffers.Builder(1 << 20)
        buffers = self.model.buffers
        self.model.buffers = [_AlignedBuffer(buffer.data) for buffer in buffers]
        try:
            root = self.model.Pack(builder)
        finally:
            self.model.buffers = buffers
        builder.Finish(root, file_identifier=_IDENTIFIER)
        return bytes(builder.Output())

    def to_bytes(self, archive: dict[str, bytes] | None = None) -> bytes:
        """The model followed by a zip of `archive` (the model's own appended files when None)."""
        return with_appended_files(self.flatbuffer(), self.archive if archive is None else archive)

    # -- internals -----------------------------------------------------------------------------

    def _code(self, op) -> int:
        code = self.model.operatorCodes[op.opcodeIndex]
        return max(int(code.builtinCode), int(code.deprecatedBuiltinCode))

    def _data(self, tensor_index: int) -> np.ndarray | None:
        data = self.model.buffers[self.graph.tensors[tensor_index].buffer].data
        return None if data is None or len(data) == 0 else np.asarray(data, np.uint8)

    def _dequantized(self, tensor_index: int) -> np.ndarray:
        tensor = self.graph.tensors[tensor_index]
        dtype = _TYPES.get(tensor.type)
        data = self._data(tensor_index)
        if dtype is None or data is None:
            raise ModelError(f"the classifier layer of {self.name} stores a type birdcam cannot read.")
        values = data.view(np.dtype(dtype).newbyteorder("<")).reshape([int(n) for n in tensor.shape])
        if dtype in (np.float32, np.float16):
            return values.astype(np.float32)
        scales, zeros = _scales(tensor), _zero_points(tensor)
        if len(scales) > 1:  # per row (quantized dimension 0)
            shape = (-1,) + (1,) * (values.ndim - 1)
            return ((values.astype(np.float32) - zeros.reshape(shape)) * scales.reshape(shape)).astype(np.float32)
        return ((values.astype(np.float32) - zeros[0]) * scales[0]).astype(np.float32)

    def _store(self, tensor_index: int, values: np.ndarray, shape: Sequence[int]) -> None:
        tensor = self.graph.tensors[tensor_index]
        little = values.astype(np.dtype(values.dtype).newbyteorder("<"), copy=False)
        buffer = _schema().BufferT()
        buffer.data = np.frombuffer(little.tobytes(), np.uint8)
        shared = sum(t.buffer == tensor.buffer for t in self.graph.tensors) > 1 or tensor.buffer == 0
        if shared:  # another tensor reads the old data: this one gets a buffer of its own
            self.model.buffers.append(buffer)
            tensor.buffer = len(self.model.buffers) - 1
        else:
            self.model.buffers[tensor.buffer] = buffer
        _set_shape(tensor, shape)

    def _reshape_to(self, op, classes: int) -> None:
        options = op.builtinOptions
        if options is not None and getattr(options, "newShape", None) is not None and len(options.newShape):
            options.newShape = [*list(options.newShape)[:-1], classes]
        data = self._data(int(op.inputs[1])) if len(op.inputs) > 1 and op.inputs[1] >= 0 else None
        if data is not None:
            shape = data.view("<i4").copy()
            shape[-1] = classes
            self._store(int(op.inputs[1]), shape.astype(np.int32), (len(shape),))


class _AlignedBuffer:
    """A Buffer whose data vector starts on a 16-byte boundary, as TFLite's schema asks (the generated Pack does
    not)."""

    def __init__(self, data):
        self.data = data

    def Pack(self, builder: flatbuffers.Builder):  # noqa: N802 (the generated object API's name)
        schema = _schema()
        vector = None
        if self.data is not None and len(self.data):
            raw = np.asarray(self.data, np.uint8).tobytes()
            builder.StartVector(1, len(raw), _BUFFER_ALIGNMENT)
            builder.head -= len(raw)
            builder.Bytes[builder.head : builder.head + len(raw)] = raw
            vector = builder.EndVector()
        schema.BufferStart(builder)
        if vector is not None:
            schema.BufferAddData(builder, vector)
        return schema.BufferEnd(builder)


def _scales(tensor) -> np.ndarray:
    q = tensor.quantization
    return np.asarray(q.scale if q is not None and q.scale is not None else [], np.float64)


def _zero_points(tensor) -> np.ndarray:
    q = tensor.quantization
    zeros = q.zeroPoint if q is not None and q.zeroPoint is not None else []
    return np.asarray(zeros if len(zeros) else [0], np.float64)


def _quantize_like(weights: np.ndarray, tensor) -> tuple[np.ndarray, np.ndarray | float]:
    """`weights` in the storage of `tensor`, and the scale(s) used: per-row tensors get a scale per row (the old
    rows keep theirs), per-tensor ones keep their scale unless a value falls outside its range, then one scale
    covering every value is taken."""
    dtype = _TYPES[tensor.type]
    if dtype in (np.float32, np.float16):
        return weights.astype(dtype), 1.0
    info = np.iinfo(dtype)
    scales, zeros = _scales(tensor), _zero_points(tensor)
    if len(scales) > 1:  # per row, symmetric
        old = len(scales)
        new_scales = np.abs(weights[old:]).max(axis=1) / info.max
        new_scales = np.where(new_scales > 0, new_scales, 1e-8)
        scales = np.concatenate([scales, new_scales])
        zeros = np.concatenate([zeros, np.zeros(len(new_scales))])
        q = np.round(weights / scales[:, None]) + zeros[:, None]
        tensor.quantization.scale = [float(s) for s in scales]
        tensor.quantization.zeroPoint = [int(z) for z in zeros]
        return np.clip(q, info.min, info.max).astype(dtype), scales
    scale, zero = float(scales[0]), float(zeros[0])
    low, high = (info.min - zero) * scale, (info.max - zero) * scale
    if weights.min() < low - scale / 2 or weights.max() > high + scale / 2:
        if zero == 0 and info.min < 0:  # symmetric (int8): keep the zero point at 0
            scale = float(np.abs(weights).max() / info.max)
        else:
            low, high = min(low, float(weights.min())), max(high, float(weights.max()))
            scale = (high - low) / (info.max - info.min)
            zero = float(np.clip(np.round(info.min - low / scale), info.min, info.max))
        tensor.quantization.scale = [scale]
        tensor.quantization.zeroPoint = [int(zero)]
    q = np.round(weights / scale) + zero
    return np.clip(q, info.min, info.max).astype(dtype), scale


def _widen_output_range(tensor, logit_range: tuple[float, float]) -> None:
    """A quantized logits tensor covers at least `logit_range` (its scale grows; its own range is kept)."""
    dtype = _TYPES.get(tensor.type)
    scales = _scales(tensor)
    if dtype not in (np.uint8, np.int8) or len(scales) != 1:
        return
    info = np.iinfo(dtype)
    scale, zero = float(scales[0]), float(_zero_points(tensor)[0])
    low, high = (info.min - zero) * scale, (info.max - zero) * scale
    want_low, want_high = min(low, logit_range[0]), max(high, logit_range[1])
    if want_low >= low and want_high <= high:
        return
    scale = (want_high - want_low) / (info.max - info.min)
    zero = float(np.clip(np.round(info.min - want_low / scale), info.min, info.max))
    tensor.quantization.scale = [scale]
    tensor.quantization.zeroPoint = [int(zero)]


def _set_shape(tensor, shape: Sequence[int]) -> None:
    tensor.shape = [int(n) for n in shape]
    if tensor.shapeSignature is not None and len(tensor.shapeSignature):
        signature = [int(n) for n in tensor.shapeSignature]
        tensor.shapeSignature = [*signature[: len(shape) - 1], int(shape[-1])] if len(signature) == len(shape) else None


def appended_files(content: bytes) -> dict[str, bytes]:
    """{name: bytes} of the zip appended to a model (TF Hub metadata's associated files, the trainer's labels)."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return {name: archive.read(name) for name in archive.namelist()}
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError, RuntimeError):
        return {}


def with_appended_files(flatbuffer: bytes, files: dict[str, bytes]) -> bytes:
    """The flatbuffer with a zip of `files` after it, its offsets counted from the start of the model file (as TF
    Hub models carry theirs); stored, not compressed, like theirs."""
    if not files:
        return flatbuffer
    out = io.BytesIO()
    out.write(flatbuffer)
    with zipfile.ZipFile(out, "a", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, data)
    return out.getvalue()

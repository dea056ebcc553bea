"""ONNX export of a trained network, and an onnxruntime runner for the exported file.

``export_onnx`` writes ``model.onnx`` plus the sidecar ``model.onnx.json`` (the file name with
``.json`` appended, so that exporting next to a checkpoint never overwrites the checkpoint's own
``.json``). The graph:

- input ``image``: (batch, 3, S, S) RGB crops, the batch axis dynamic. ``uint8`` input (the
  default) is normalised inside the graph exactly as in training, ``x.float() / 255``;
  ``float32`` input is taken as already normalised to 0..1 (no scaling in the graph).
- output ``heatmaps``: (batch, K, h, w) float32, the LAST stack's landmark channels (earlier
  stacks only serve intermediate supervision; the boundary channel, if any, is dropped).
- with ``decode`` also ``points`` (batch, K, 2), x, y in INPUT pixels (0-based pixel centres of
  the crop) and ``scores`` (batch, K), the maxima of the maps. The in-graph decoder computes
  what ``HeatmapCodec.decode`` computes, with ONNX-exportable ops (``GraphDecoder``): GET_MAX is
  argmax + quarter-pixel step with masks at the border instead of ``-inf`` padding; GET_BC is the
  softmax barycenter of the whole map (``softmax=True``) or the barycenter of the clamped map in
  the 3-sigma window around the argmax (``softmax=False``), followed in both cases by the
  border-pull correction, whose 8 Newton steps are unrolled in the graph. Nothing of the decoding
  runs on the host when the file has a decoder.

The sidecar holds everything needed to crop, feed and decode without the checkpoint (see
``SIDECAR_KEYS``); its description keys have the names of ``ModelDescription``'s fields.

The exporter is torch's TorchScript-based one (``dynamo=False``): with torch 2.13 it exports the
hourglass and HRNet at opset 17 in about a second, where the ``torch.export``-based exporter
takes 10-20 s for the same tiny models and first exports at opset 18, then down-converts.
``dynamo=True`` is still accepted (it gives the same parity) but its down-conversion to opset 17
fails on the decoder's reductions, leaving the file at opset 18; the sidecar records the file's
real opset.

Dependencies: exporting needs ``onnx`` (torch's exporter serialises with it); running needs
``onnxruntime``. Both are imported only when used.
"""

from __future__ import annotations

import copy
import json
import math
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, overload

import numpy as np
import torch
from torch import Tensor, nn

from heatmark import __version__
from heatmark.codec import Decoding, HeatmapCodec
from heatmark.codec.decode import NEWTON_STEPS, border_pull_table, undo_window_pull
from heatmark.errors import DataError
from heatmark.models.coordconv import CoordConv2d
from heatmark.schemes import Scheme

FORMAT = "heatmark-onnx"
FORMAT_VERSION = 1
DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax over the last axis of an N-D tensor, ReduceSum with axes input

INPUT_NAME = "image"
HEATMAPS = "heatmaps"
POINTS = "points"
SCORES = "scores"

HEATMAP_TOLERANCE = 1e-4
"""Max abs heatmap difference between onnxruntime and torch that ``check_parity`` accepts."""
POINT_TOLERANCE = 0.01
"""Max point difference (input pixels, per coordinate) that ``check_parity`` accepts."""

NORMALISATION = {
    "uint8": "rgb / 255",
    "float32": "none (float input is taken as rgb already in 0..1)",
}
"""The ``normalisation`` sidecar value per input dtype; uint8 is ``ModelDescription``'s."""

InputDtype = Literal["uint8", "float32"]
T = TypeVar("T")

SIDECAR_KEYS: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "format_version": (int,),
    "heatmark_version": (str,),
    "onnx_file": (str,),
    "opset": (int,),
    "input_name": (str,),
    "input_dtype": (str,),
    "input_layout": (str,),
    "normalisation": (str,),
    "input_size": (int,),
    "enlarge": (int, float),
    "stride": (int,),
    "heatmap_size": (int,),
    "sigma": (int, float),
    "scheme": (str,),
    "num_points": (int,),
    "point_names": (list,),
    "flip_permutation": (list,),
    "decoding": (str,),
    "softmax": (bool,),
    "temperature": (int, float),
    "decoded_in_graph": (bool,),
    "border_correction": (str,),
    "outputs": (list,),
}
"""Required sidecar keys and their JSON types (``terms`` is optional: a string or null)."""


# ---------------------------------------------------------------- in-graph decoding


class GraphDecoder(nn.Module):
    """``HeatmapCodec.decode`` written with ONNX-exportable ops, for (B, K, h, w) maps.

    Returns points (B, K, 2) in input pixels and scores (B, K). Same results as the codec up to
    float summation order (GET_MAX is exact); the map size is fixed at construction.
    """

    def __init__(
        self,
        codec: HeatmapCodec,
        decoding: Decoding,
        softmax: bool = True,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self.decoding = Decoding(decoding)
        self.softmax = bool(softmax)
        self.temperature = float(temperature)
        self.size = codec.heatmap_size
        self.stride = codec.stride
        self.sigma = float(codec.sigma)
        self.window = max(2, math.ceil(3 * codec.sigma))
        self.register_buffer("pull_table", border_pull_table(self.sigma, self.window).clone())

    def forward(self, maps: Tensor) -> tuple[Tensor, Tensor]:
        maps = maps.float()
        if self.decoding is Decoding.GET_MAX:
            coords, scores = self._decode_max(maps)
        else:
            coords, scores = self._decode_barycenter(maps)
        return (coords + 0.5) * self.stride - 0.5, scores

    def _argmax(self, maps: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Flattened maps (B, K, h*w), scores, and the argmax's column and row (int64)."""
        flat = maps.flatten(2)
        # one TopK operator instead of ReduceMax + ArgMax (onnxruntime's ArgMax is slow)
        scores, index = (t.squeeze(-1) for t in flat.topk(1, dim=-1))
        ys = torch.div(index, self.size, rounding_mode="floor")
        xs = index - ys * self.size
        return flat, scores, xs, ys

    def _decode_max(self, maps: Tensor) -> tuple[Tensor, Tensor]:
        flat, scores, xs, ys = self._argmax(maps)
        index = ys * self.size + xs
        last = self.size - 1

        def step(forward: Tensor, backward: Tensor, offset: int) -> Tensor:
            # The codec pads with -inf: a missing neighbour counts as lower, so the step goes
            # towards the one that exists (and is 0 when neither does, a 1-pixel map).
            ahead = flat.gather(-1, (index + forward.long() * offset).unsqueeze(-1)).squeeze(-1)
            behind = flat.gather(-1, (index - backward.long() * offset).unsqueeze(-1)).squeeze(-1)
            one_sided = forward.float() - backward.float()
            return 0.25 * torch.where(forward & backward, torch.sign(ahead - behind), one_sided)

        dx = step(xs < last, xs > 0, 1)
        dy = step(ys < last, ys > 0, self.size)
        return torch.stack([xs.float() + dx, ys.float() + dy], dim=-1), scores

    def _decode_barycenter(self, maps: Tensor) -> tuple[Tensor, Tensor]:
        if self.softmax:  # the whole map: the codec's mask is all true
            grid = torch.arange(self.size, dtype=torch.float32)
            flat = maps.flatten(2) / self.temperature
            scores = maps.flatten(2).amax(dim=-1)
            prob = torch.softmax(flat, dim=-1).reshape(maps.shape)
            observed = torch.stack([prob.sum(-2) @ grid, prob.sum(-1) @ grid], dim=-1)
            return self._undo_border_pull(observed, grid), scores
        # The window around the argmax (the codec rounds the quarter-step peak to it), gathered
        # as a (2w+1)^2 patch: the same sums as masking the whole map, on a few pixels.
        flat, scores, xs, ys = self._argmax(maps)
        offsets = torch.arange(-self.window, self.window + 1)
        px = xs.unsqueeze(-1) + offsets  # (B, K, W) columns of the window, some off the map
        py = ys.unsqueeze(-1) + offsets
        in_x = (px >= 0) & (px < self.size)
        in_y = (py >= 0) & (py < self.size)
        index = py.clamp(0, self.size - 1).unsqueeze(-1) * self.size + px.clamp(
            0, self.size - 1
        ).unsqueeze(-2)
        patch = flat.gather(-1, index.flatten(2)).reshape(index.shape)
        inside = (in_y.unsqueeze(-1) & in_x.unsqueeze(-2)).float()
        mass = patch.clamp_min(0) * inside
        total = mass.sum(dim=(-2, -1), keepdim=True)
        uniform = inside / inside.sum(dim=(-2, -1), keepdim=True)
        prob = torch.where(total > 0, mass / total.clamp_min(1e-30), uniform)
        grid = torch.stack([px, py], dim=-2).float()  # (B, K, 2, W)
        marginals = torch.stack([prob.sum(-2), prob.sum(-1)], dim=-2)
        observed = (marginals * grid).sum(-1)
        centre = torch.stack([xs, ys], dim=-1)  # (B, K, 2)
        lo = (centre - self.window).clamp_min(0).float()
        hi = (centre + self.window).clamp_max(self.size - 1).float()
        return undo_window_pull(observed, lo, hi, self.pull_table, self.window), scores

    def _undo_border_pull(self, observed: Tensor, grid: Tensor) -> Tensor:
        """Newton on mean(u) = observed over the whole axis, as
        ``heatmark.codec.decode._undo_border_pull``, for x and y at once: ``observed``
        (B, K, 2); ``grid`` the pixel positions (size,)."""
        sigma2 = self.sigma**2
        u = observed
        for _ in range(NEWTON_STEPS):
            logits = -((grid - u.unsqueeze(-1)) ** 2) / (2 * sigma2)
            weights = torch.softmax(logits, dim=-1)
            mean = (weights * grid).sum(-1)
            var = (weights * (grid - mean.unsqueeze(-1)) ** 2).sum(-1)
            u = u - (mean - observed) * sigma2 / var.clamp_min(1e-6)
        return u


class ExportWrapper(nn.Module):
    """What is exported: normalise the input, run the network, keep the last stack's landmark
    channels, optionally decode."""

    def __init__(
        self,
        network: nn.Module,
        num_points: int,
        decoder: GraphDecoder | None,
        input_dtype: InputDtype = "uint8",
    ) -> None:
        super().__init__()
        if input_dtype not in NORMALISATION:
            raise ValueError(f"input_dtype must be 'uint8' or 'float32', got {input_dtype!r}")
        self.network = network
        self.num_points = num_points
        self.decoder = decoder
        self.scale_uint8 = input_dtype == "uint8"

    def forward(self, image: Tensor) -> Tensor | tuple[Tensor, Tensor, Tensor]:
        x = image.float()
        if self.scale_uint8:
            x = x / 255.0
        maps = self.network(x)[-1][:, : self.num_points].float()
        if self.decoder is None:
            return maps
        points, scores = self.decoder(maps)
        return maps, points, scores


# ---------------------------------------------------------------- export


def sidecar_path(onnx_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    onnx_path = Path(onnx_path)
    return onnx_path.with_name(onnx_path.name + ".json")


def export_onnx(
    model: nn.Module,
    codec: HeatmapCodec,
    scheme: Scheme,
    path: str | Path,
    *,
    enlarge: float,
    decode: Decoding | None,
    softmax: bool,
    temperature: float,
    opset: int = DEFAULT_OPSET,
    input_dtype: InputDtype = "uint8",
    fuse: bool = True,
    host_decoding: Decoding = Decoding.GET_MAX,
    terms: str | None = None,
    dynamo: bool = False,
) -> Path:
    """Export ``model`` (any heatmark network: image -> list of per-stack maps) to ``path``.

    Writes ``path`` and its sidecar ``sidecar_path(path)``; returns ``path``. ``model`` itself is
    not modified (a fused eval copy is exported when ``fuse``, else an eval copy).

    Args:
        decode: in-graph decoding (adds the ``points`` and ``scores`` outputs), or None for
            heatmaps only.
        softmax: with ``temperature``, the GET_BC distribution (the model's
            ``ModelDescription``); both recorded in the sidecar in every case.
        temperature: see ``softmax``.
        input_dtype: ``"uint8"`` (normalised ``/ 255`` in the graph) or ``"float32"`` (taken as
            RGB already in 0..1).
        host_decoding: the decoding the sidecar names when ``decode`` is None (what
            ``OnnxLandmarkModel.points`` then runs on the host).
        terms: terms of use to carry into the sidecar (a checkpoint's ``metadata["terms"]``).
        dynamo: use torch's ``torch.export``-based exporter instead of the TorchScript one.
    """
    path = Path(path)
    if opset < MIN_OPSET:
        raise ValueError(f"opset must be >= {MIN_OPSET}, got {opset}")
    num_points = scheme.num_points
    decoding = Decoding(decode) if decode is not None else Decoding(host_decoding)
    network = _inference_copy(model, fuse)
    for module in network.modules():
        if isinstance(module, CoordConv2d):
            module.freeze_coordinates_()  # the first pass, at the export size, fills them
    _check_network(network, codec, num_points)
    decoder = GraphDecoder(codec, decoding, softmax, temperature) if decode is not None else None
    wrapper = ExportWrapper(network, num_points, decoder, input_dtype).eval()
    outputs = [HEATMAPS] if decoder is None else [HEATMAPS, POINTS, SCORES]

    size = codec.input_size
    generator = torch.Generator().manual_seed(0)
    # batch 2: a traced batch of 1 could be specialised into broadcasts
    example = torch.randint(0, 256, (2, 3, size, size), dtype=torch.uint8, generator=generator)
    if input_dtype == "float32":
        example = example.float() / 255.0
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # the TorchScript exporter's deprecation notice and the tracer's notes on the models'
        # input-size checks (the input size is fixed in the graph, so the trace is exact)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        warnings.simplefilter("ignore", category=DeprecationWarning)
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export.*")
        if dynamo:
            batch = torch.export.Dim("batch", min=1, max=4096)
            exporter: dict[str, Any] = {"dynamic_shapes": ({0: batch},), "verbose": False}
        else:
            dynamic_axes = {name: {0: "batch"} for name in [INPUT_NAME, *outputs]}
            exporter = {"dynamic_axes": dynamic_axes, "do_constant_folding": True}
        torch.onnx.export(
            wrapper,
            (example,),
            str(path),
            input_names=[INPUT_NAME],
            output_names=outputs,
            opset_version=opset,
            dynamo=dynamo,
            **exporter,
        )
    opset = _check_onnx_file(path)
    sidecar = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "heatmark_version": __version__,
        "onnx_file": path.name,
        "opset": opset,
        "exporter": "dynamo" if dynamo else "torchscript",
        "input_name": INPUT_NAME,
        "input_dtype": input_dtype,
        "input_layout": "NCHW RGB",
        "normalisation": NORMALISATION[input_dtype],
        "input_size": size,
        "enlarge": float(enlarge),
        "stride": codec.stride,
        "heatmap_size": codec.heatmap_size,
        "sigma": float(codec.sigma),
        "scheme": scheme.name,
        "num_points": num_points,
        "point_names": list(scheme.point_names),
        "flip_permutation": list(scheme.flip_permutation),
        "decoding": decoding.value,
        "softmax": bool(softmax),
        "temperature": float(temperature),
        "decoded_in_graph": decoder is not None,
        "border_correction": (
            "none" if decoding is Decoding.GET_MAX else "graph" if decoder is not None else "host"
        ),
        "outputs": outputs,
        "terms": terms,
    }
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
    return path


def _inference_copy(model: nn.Module, fuse: bool) -> nn.Module:
    if fuse:
        from heatmark.models.fast import fuse_for_inference

        return fuse_for_inference(model)
    return copy.deepcopy(model).eval()


@torch.no_grad()
def _check_network(network: nn.Module, codec: HeatmapCodec, num_points: int) -> None:
    """The network must give >= K channels of ``codec.heatmap_size`` maps at the input size."""
    size = codec.input_size
    output = network(torch.zeros(1, 3, size, size))
    if not isinstance(output, list | tuple) or not output:
        raise ValueError("the model must return a list of per-stack heatmap tensors")
    channels, height, width = output[-1].shape[1:]
    if channels < num_points:
        raise ValueError(f"the model outputs {channels} channels, fewer than {num_points} points")
    if (height, width) != (codec.heatmap_size, codec.heatmap_size):
        raise ValueError(
            f"the model gives {height}x{width} heatmaps at input {size}, but the codec's "
            f"heatmap_size is {codec.heatmap_size}"
        )


def _check_onnx_file(path: Path) -> int:
    """Check the written file; returns its ai.onnx opset (the dynamo exporter may keep a
    higher one than asked when its down-conversion fails)."""
    import onnx

    onnx.checker.check_model(str(path))
    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


# ---------------------------------------------------------------- runtime


class SidecarField(Generic[T]):
    """A read-only attribute of ``OnnxLandmarkModel``: the sidecar's value at ``key`` (default:
    the attribute's name), converted with ``convert``."""

    def __init__(self, convert: Callable[[Any], T], key: str | None = None) -> None:
        self.convert = convert
        self.key = key

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = self.key or name

    @overload
    def __get__(self, instance: None, owner: type) -> SidecarField[T]: ...
    @overload
    def __get__(self, instance: OnnxLandmarkModel, owner: type) -> T: ...
    def __get__(self, instance: OnnxLandmarkModel | None, owner: type) -> SidecarField[T] | T:
        if instance is None:
            return self
        return self.convert(instance.sidecar[self.key])


class OnnxLandmarkModel:
    """An exported model run by onnxruntime: uint8 crops -> heatmaps -> points.

    Args:
        path: the ``.onnx`` file; its sidecar ``path + ".json"`` must sit next to it.
        threads: onnxruntime intra-op threads (default: onnxruntime's, all cores).
        providers: onnxruntime execution providers, in order of preference.

    Raises ``DataError`` naming the file when either file is missing or unreadable, or when the
    sidecar lacks a key, has a wrong value, or does not describe the graph's inputs/outputs.
    """

    def __init__(
        self,
        path: str | Path,
        threads: int | None = None,
        providers: Sequence[str] = ("CPUExecutionProvider",),
    ) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        self.sidecar_path = sidecar_path(self.path)
        if not self.path.is_file():
            raise DataError(self.path, "no such ONNX file")
        self.sidecar = read_sidecar(self.sidecar_path)
        options = ort.SessionOptions()
        if threads is not None:
            if threads < 1:
                raise ValueError(f"threads must be >= 1, got {threads}")
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=list(providers)
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise DataError(self.path, f"onnxruntime cannot load the model: {error}") from None
        self._check_graph()
        s = self.sidecar
        self.codec = HeatmapCodec(
            input_size=s["input_size"], heatmap_size=s["heatmap_size"], sigma=s["sigma"]
        )

    # --- description (the sidecar's keys of the same names)

    input_size = SidecarField(int)
    enlarge = SidecarField(float)
    num_points = SidecarField(int)
    scheme_name = SidecarField(str, key="scheme")
    point_names = SidecarField(tuple)
    flip_permutation = SidecarField(tuple)
    decoding = SidecarField(Decoding)
    softmax = SidecarField(bool)
    temperature = SidecarField(float)
    decoded_in_graph = SidecarField(bool)

    @property
    def terms(self) -> str | None:
        return self.sidecar.get("terms")

    # --- inference

    def outputs(
        self, crops: np.ndarray, names: Sequence[str] | None = None
    ) -> dict[str, np.ndarray]:
        """The graph outputs ``names`` (default: every one) for (B, 3, S, S) uint8 crops
        (float32 in 0..1 also accepted); onnxruntime copies out only those."""
        names = list(self.sidecar["outputs"] if names is None else names)
        feed = self._feed(crops)
        values = self.session.run(names, {self.sidecar["input_name"]: feed})
        return dict(zip(names, values, strict=True))

    def run(self, crops: np.ndarray, flip: bool = False) -> np.ndarray:
        """(B, 3, S, S) crops -> (B, K, h, w) float32 heatmaps (the last stack's landmarks).

        ``flip``: average with the mirrored crops' maps (points swapped with the flip
        permutation), as ``LandmarkModel.heatmaps(flip=True)``.
        """
        maps = self.outputs(crops)[HEATMAPS]
        if flip:
            mirrored = self.outputs(np.ascontiguousarray(np.asarray(crops)[..., ::-1]))[HEATMAPS]
            maps = 0.5 * (maps + mirrored[:, list(self.flip_permutation)][..., ::-1])
        return np.ascontiguousarray(maps, dtype=np.float32)

    def points(self, crops: np.ndarray, flip: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(B, 3, S, S) crops -> points (B, K, 2) in input pixels and scores (B, K).

        Uses the graph's decoder when the file has one (and ``flip`` is off); otherwise decodes
        the heatmaps here with ``HeatmapCodec.decode`` and the sidecar's decoding.
        """
        if self.decoded_in_graph and not flip:
            out = self.outputs(crops, (POINTS, SCORES))  # not the heatmaps
            return out[POINTS].astype(np.float32), out[SCORES].astype(np.float32)
        return self.decode(self.run(crops, flip=flip))

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Host-side decoding of (B, K, h, w) maps with the sidecar's decoding."""
        points, scores = self.codec.decode(
            torch.from_numpy(np.ascontiguousarray(heatmaps, dtype=np.float32)),
            self.num_points,
            self.decoding,
            softmax=self.softmax,
            temperature=self.temperature,
        )
        return points.numpy(), scores.numpy()

    def _feed(self, crops: np.ndarray) -> np.ndarray:
        crops = np.asarray(crops)
        size = self.input_size
        if crops.ndim != 4 or crops.shape[1:] != (3, size, size):
            raise ValueError(f"crops must be (B, 3, {size}, {size}), got {crops.shape}")
        if self.sidecar["input_dtype"] == "uint8":
            if crops.dtype != np.uint8:
                raise ValueError(f"this model takes uint8 crops, got {crops.dtype}")
            return np.ascontiguousarray(crops)
        if crops.dtype == np.uint8:
            return crops.astype(np.float32) / np.float32(255.0)
        return np.ascontiguousarray(crops, dtype=np.float32)

    def _check_graph(self) -> None:
        """The sidecar must describe the graph's input and outputs."""
        s = self.sidecar
        inputs = self.session.get_inputs()
        expected_type = "tensor(uint8)" if s["input_dtype"] == "uint8" else "tensor(float)"
        size = s["input_size"]
        if len(inputs) != 1 or inputs[0].name != s["input_name"]:
            names = [i.name for i in inputs]
            raise DataError(
                self.sidecar_path,
                f"input_name {s['input_name']!r} does not match the graph's inputs {names}",
            )
        if inputs[0].type != expected_type:
            raise DataError(
                self.sidecar_path,
                f"input_dtype {s['input_dtype']!r} does not match the graph's {inputs[0].type}",
            )
        if list(inputs[0].shape[1:]) != [3, size, size]:
            raise DataError(
                self.sidecar_path,
                f"input_size {size} does not match the graph's input shape {inputs[0].shape}",
            )
        outputs = {o.name: o for o in self.session.get_outputs()}
        missing = [name for name in s["outputs"] if name not in outputs]
        if missing:
            raise DataError(
                self.sidecar_path, f"outputs {missing} are not in the graph ({sorted(outputs)})"
            )
        k, h = s["num_points"], s["heatmap_size"]
        shape = list(outputs[HEATMAPS].shape[1:])
        if shape != [k, h, h]:
            raise DataError(
                self.sidecar_path,
                f"num_points {k} / heatmap_size {h} do not match the graph's heatmaps "
                f"{outputs[HEATMAPS].shape}",
            )


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """Read and validate an export sidecar; every problem is a ``DataError`` naming ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing export sidecar (heatmark export writes it next to .onnx)")
    try:
        sidecar = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(path, f"unreadable export sidecar: {error}") from None
    if not isinstance(sidecar, dict):
        raise DataError(path, "the export sidecar must be a JSON object")
    if sidecar.get("format") != FORMAT:
        raise DataError(path, f"not a heatmark ONNX sidecar (format {sidecar.get('format')!r})")
    version = sidecar.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version > FORMAT_VERSION:
        raise DataError(
            path, f"format_version {version!r} is not supported (this heatmark reads <= 1)"
        )
    missing = [key for key in SIDECAR_KEYS if key not in sidecar]
    if missing:
        raise DataError(path, f"the export sidecar lacks {', '.join(missing)}")
    for key, types in SIDECAR_KEYS.items():
        value = sidecar[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            kind = " or ".join(t.__name__ for t in types)
            raise DataError(path, f"{key} must be {kind}, got {value!r}")
    _check_values(path, sidecar)
    return sidecar


def _check_values(path: Path, s: dict[str, Any]) -> None:
    def fail(message: str) -> None:
        raise DataError(path, message)

    for key in ("input_size", "heatmap_size", "stride", "num_points", "opset"):
        if s[key] < 1:
            fail(f"{key} must be positive, got {s[key]}")
    for key in ("enlarge", "sigma", "temperature"):
        if not (math.isfinite(s[key]) and s[key] > 0):
            fail(f"{key} must be a positive number, got {s[key]}")
    if s["input_size"] != s["stride"] * s["heatmap_size"]:
        fail(
            f"input_size {s['input_size']} != stride {s['stride']} x heatmap_size "
            f"{s['heatmap_size']}"
        )
    if s["input_dtype"] not in NORMALISATION:
        fail(f"input_dtype must be 'uint8' or 'float32', got {s['input_dtype']!r}")
    if s["normalisation"] != NORMALISATION[s["input_dtype"]]:
        fail(f"unsupported normalisation {s['normalisation']!r} for {s['input_dtype']} input")
    try:
        Decoding(s["decoding"])
    except ValueError:
        fail(f"decoding must be 'max' or 'barycenter', got {s['decoding']!r}")
    if s["border_correction"] not in ("none", "graph", "host"):
        fail(f"border_correction must be 'none', 'graph' or 'host', got {s['border_correction']!r}")
    k = s["num_points"]
    perm = s["flip_permutation"]
    if sorted(p if isinstance(p, int) else -1 for p in perm) != list(range(k)):
        fail(f"flip_permutation is not a permutation of 0..{k - 1}")
    names = s["point_names"]
    if names and (len(names) != k or not all(isinstance(n, str) for n in names)):
        fail(f"point_names must be empty or {k} strings")
    expected = [HEATMAPS, POINTS, SCORES] if s["decoded_in_graph"] else [HEATMAPS]
    if s["outputs"] != expected:
        fail(f"outputs must be {expected} (decoded_in_graph={s['decoded_in_graph']})")
    terms = s.get("terms")
    if terms is not None and not isinstance(terms, str):
        fail(f"terms must be a string or null, got {terms!r}")


# ---------------------------------------------------------------- parity


def _decision_margins(maps: Tensor, decoding: Decoding, softmax: bool) -> Tensor:
    """(B, K) how far each map is from a discrete decision flipping: the gap between the top
    two values (argmax) and, for GET_MAX, between the neighbours deciding the quarter step.
    Infinite for the softmax barycenter, which is continuous in the maps."""
    if decoding is Decoding.GET_BC and softmax:
        return torch.full(maps.shape[:2], float("inf"))
    flat = maps.flatten(2).float()
    top = flat.topk(2, dim=-1).values if flat.shape[-1] > 1 else flat.repeat(1, 1, 2)
    margin = top[..., 0] - top[..., 1]
    if decoding is Decoding.GET_MAX:
        padded = torch.nn.functional.pad(maps.float(), (1, 1, 1, 1), value=float("inf"))
        index = flat.argmax(-1)
        size = maps.shape[-1]
        ys, xs = (index // size) + 1, (index % size) + 1
        b, k = torch.meshgrid(
            torch.arange(maps.shape[0]), torch.arange(maps.shape[1]), indexing="ij"
        )
        horizontal = (padded[b, k, ys, xs + 1] - padded[b, k, ys, xs - 1]).abs()
        vertical = (padded[b, k, ys + 1, xs] - padded[b, k, ys - 1, xs]).abs()
        margin = torch.minimum(margin, torch.minimum(horizontal, vertical).nan_to_num(math.inf))
    return margin


@torch.no_grad()
def check_parity(
    model: nn.Module,
    codec: HeatmapCodec,
    num_points: int,
    onnx_path: str | Path,
    decoding: Decoding,
    softmax: bool,
    temperature: float,
    batch_sizes: Sequence[int] = (1, 3),
    seed: int = 0,
    threads: int | None = None,
) -> dict[str, Any]:
    """Compare the exported file run by onnxruntime with ``model`` run by torch.

    Random uint8 crops (``seed``) at each batch size go through both; torch's heatmaps are
    decoded by ``codec.decode`` with ``decoding``/``softmax``/``temperature``. Returns
    ``{"batches": {B: {...}}, "heatmap_max_abs", "point_max_abs", "passed", ...}`` where per
    batch ``heatmap_max_abs`` is the max abs heatmap difference, ``point_max_abs`` the max
    coordinate difference of the points (in-graph decoder, or host decoding for a heatmaps-only
    file) from torch's, and ``decoder_max_abs`` that of the file's points from ``codec.decode``
    of the file's own heatmaps (the decoder alone).

    Near-ties make a discrete decision (the argmax, or the quarter step's direction) legitimately
    differ between two runtimes whose maps differ by ~1e-6: points whose torch maps decide by
    less than ``HEATMAP_TOLERANCE`` are counted in ``ambiguous`` and left out of
    ``point_max_abs`` (they are still in ``decoder_max_abs``, which compares identical maps).
    ``passed``: heatmaps <= ``HEATMAP_TOLERANCE`` and both point figures <= ``POINT_TOLERANCE``.
    """
    runner = OnnxLandmarkModel(onnx_path, threads=threads)
    decoding = Decoding(decoding)
    was_training = model.training
    model.eval()
    try:
        batches = _parity_batches(
            model, codec, num_points, runner, decoding, softmax, temperature, batch_sizes, seed
        )
    finally:
        model.train(was_training)
    heatmap = max(b["heatmap_max_abs"] for b in batches.values())
    point = max(b["point_max_abs"] for b in batches.values())
    decoder = max(b["decoder_max_abs"] for b in batches.values())
    return {
        "onnx": str(onnx_path),
        "decoding": decoding.value,
        "softmax": softmax,
        "decoded_in_graph": runner.decoded_in_graph,
        "batches": batches,
        "heatmap_max_abs": heatmap,
        "point_max_abs": point,
        "decoder_max_abs": decoder,
        "ambiguous": sum(int(b["ambiguous"]) for b in batches.values()),
        "heatmap_tolerance": HEATMAP_TOLERANCE,
        "point_tolerance": POINT_TOLERANCE,
        "passed": heatmap <= HEATMAP_TOLERANCE
        and point <= POINT_TOLERANCE
        and decoder <= POINT_TOLERANCE,
    }


@torch.no_grad()
def _parity_batches(
    model: nn.Module,
    codec: HeatmapCodec,
    num_points: int,
    runner: OnnxLandmarkModel,
    decoding: Decoding,
    softmax: bool,
    temperature: float,
    batch_sizes: Sequence[int],
    seed: int,
) -> dict[int, dict[str, float | int]]:
    generator = torch.Generator().manual_seed(seed)
    size = codec.input_size
    batches: dict[int, dict[str, float | int]] = {}
    for batch in batch_sizes:
        crops = torch.randint(
            0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=generator
        )
        expected_maps = model(crops.float() / 255)[-1][:, :num_points].float()
        expected_points, _ = codec.decode(
            expected_maps, num_points, decoding, softmax=softmax, temperature=temperature
        )
        out = runner.outputs(crops.numpy())
        maps = torch.from_numpy(out[HEATMAPS])
        if runner.decoded_in_graph:
            points = torch.from_numpy(out[POINTS])
        else:
            points = torch.from_numpy(runner.decode(out[HEATMAPS])[0])
        own_points, _ = codec.decode(
            maps, num_points, decoding, softmax=softmax, temperature=temperature
        )
        clear = _decision_margins(expected_maps, decoding, softmax) > HEATMAP_TOLERANCE
        point_diff = (points - expected_points).abs().amax(dim=-1)
        batches[batch] = {
            "heatmap_max_abs": float((maps - expected_maps).abs().max()),
            "point_max_abs": float(point_diff[clear].max()) if bool(clear.any()) else 0.0,
            "decoder_max_abs": float((points - own_points).abs().max()),
            "ambiguous": int((~clear).sum()),
        }
    return batches


# ---------------------------------------------------------------- checkpoints


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    opset: int = DEFAULT_OPSET,
    decode: Literal["auto", "max", "barycenter", "none"] = "auto",
    check: bool = False,
    input_dtype: InputDtype = "uint8",
) -> tuple[Path, dict[str, Any] | None]:
    """Export a trained checkpoint; returns the ``.onnx`` path and the parity report (``check``)
    or None.

    ``decode``: ``"auto"`` adds the checkpoint's own decoding (``eval.decoding``) to the graph,
    ``"max"``/``"barycenter"`` that decoder, ``"none"`` exports heatmaps only (the sidecar then
    names the checkpoint's ``eval.decoding`` for host-side decoding). softmax and temperature
    come from the checkpoint's config. The report's ``passed`` says whether the check held;
    raising on failure is the caller's choice.
    """
    if decode not in ("auto", "max", "barycenter", "none"):
        raise ValueError(f"decode must be auto, max, barycenter or none, got {decode!r}")
    from heatmark.models.checkpoint import load_landmark_model  # the one place it is read

    model = load_landmark_model(checkpoint)
    d = model.description
    in_graph = None if decode == "none" else d.decoding if decode == "auto" else Decoding(decode)
    path = export_onnx(
        model.network,
        model.codec,
        model.scheme,
        out,
        enlarge=d.enlarge,
        decode=in_graph,
        softmax=d.softmax,
        temperature=d.temperature,
        opset=opset,
        input_dtype=input_dtype,
        host_decoding=d.decoding,
        terms=model.terms,
    )
    report = None
    if check:
        report = check_parity(
            model.network,
            model.codec,
            model.scheme.num_points,
            path,
            in_graph or d.decoding,
            d.softmax,
            d.temperature,
        )
    return path, report

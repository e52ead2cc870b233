"""Single point-cloud files: .npy .npz .xyz .txt .pcd .ply .las/.laz, each read into float [N, >=3] points."""

from __future__ import annotations

import io
import warnings
import zipfile
from pathlib import Path

import numpy as np

from pointdistill.data.readers.common import load_npy, load_table, require_file
from pointdistill.errors import DataError

NPZ_POINT_KEYS = ("points", "xyz", "coord", "pos", "data")


def load_npz_points(path: Path) -> np.ndarray:
    """The cloud in an .npz: the first of ``points/xyz/coord/pos/data`` present, or its only array."""
    require_file(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            keys = list(archive.files)
            key = next((k for k in NPZ_POINT_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise DataError(path, f"no point array: expected one of {list(NPZ_POINT_KEYS)}, found {keys}")
            return archive[key]
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as error:
        raise DataError(path, f"corrupt .npz file: {error}") from None


def load_text_points(path: Path) -> np.ndarray:
    """``x y z ...`` rows, separated by spaces or commas (sniffed from the first line)."""
    require_file(path)
    try:
        with path.open("r", encoding="utf-8") as stream:
            first = stream.readline()
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read text file: {error}") from None
    return load_table(path, delimiter="," if "," in first else None)


_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4", ("I", 8): "i8",
              ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}


def load_pcd(path: Path) -> np.ndarray:
    """PCL .pcd (DATA ascii or binary); columns x, y, z are returned."""
    require_file(path)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise DataError(path, f"cannot read file: {error}") from None
    header: dict[str, list[str]] = {}
    position = 0
    while "DATA" not in header:
        end = raw.find(b"\n", position)
        if end < 0:
            raise DataError(path, "truncated PCD header (no DATA line)")
        line = raw[position:end].decode("ascii", errors="replace").strip()
        position = end + 1
        if line and not line.startswith("#"):
            key, *values = line.split()
            header[key.upper()] = values
    try:
        fields = header["FIELDS"]
        sizes = [int(v) for v in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(v) for v in header.get("COUNT", ["1"] * len(fields))]
        num_points = int(header["POINTS"][0]) if "POINTS" in header else int(header["WIDTH"][0]) * int(
            header.get("HEIGHT", ["1"])[0])
        dtype = np.dtype([(name, _PCD_TYPES[(kind, size)], (count,) if count > 1 else ())
                          for name, kind, size, count in zip(fields, types, sizes, counts)])
    except (KeyError, ValueError, IndexError) as error:
        raise DataError(path, f"bad PCD header: {error}") from None
    if not {"x", "y", "z"} <= set(fields):
        raise DataError(path, f"PCD has no x/y/z fields (fields: {fields})")
    mode = header["DATA"][0].lower() if header["DATA"] else ""
    if mode == "ascii":
        table = _ascii_table(raw[position:], path)
        columns = np.cumsum([0] + counts)
        if table.size == 0:
            raise DataError(path, "PCD holds no points (empty cloud)")
        if table.shape[1] < columns[-1]:
            raise DataError(path, f"PCD rows have {table.shape[1]} values, the header declares {columns[-1]}")
        index = {name: columns[i] for i, name in enumerate(fields)}
        return table[:, [index["x"], index["y"], index["z"]]]
    if mode == "binary":
        body = raw[position:position + num_points * dtype.itemsize]
        if len(body) < num_points * dtype.itemsize:
            raise DataError(path, f"truncated PCD: header promises {num_points} points")
        records = np.frombuffer(body, dtype=dtype, count=num_points)
        return np.stack([records["x"], records["y"], records["z"]], axis=1).astype(np.float32)
    raise DataError(path, f"PCD DATA mode {mode!r} is not supported (ascii and binary are); "
                          "convert with pcl_convert_pcd_ascii_binary")


def _ascii_table(data: bytes, path: Path) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # empty data: reported by the caller
            table = np.loadtxt(io.StringIO(data.decode("ascii")), dtype=np.float32, ndmin=2)
    except (UnicodeDecodeError, ValueError) as error:
        raise DataError(path, f"bad ASCII point data: {error}") from None
    return table


def load_las(path: Path) -> np.ndarray:
    """LAS/LAZ via laspy, which is optional: without it, say how to get it."""
    require_file(path)
    try:
        import laspy
    except ImportError:
        raise DataError(path, "reading .las/.laz needs the optional package laspy: pip install laspy") from None
    try:
        cloud = laspy.read(path)
    except Exception as error:  # laspy raises its own error types for corrupt files
        raise DataError(path, f"cannot read LAS file: {type(error).__name__}: {error}") from None
    return np.stack([np.asarray(cloud.x), np.asarray(cloud.y), np.asarray(cloud.z)], axis=1)


POINT_LOADERS = {
    ".npy": load_npy,
    ".npz": load_npz_points,
    ".xyz": load_text_points,
    ".txt": load_text_points,
    ".pts": load_text_points,
    ".pcd": load_pcd,
    ".las": load_las,
    ".laz": load_las,
}
MESH_SUFFIXES = (".off", ".obj", ".ply", ".stl", ".glb", ".gltf")
""".ply may hold a bare point cloud: the mesh loader returns no faces then and the vertices are the points."""

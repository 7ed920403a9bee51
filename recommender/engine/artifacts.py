"""Arrays stored as ``.npz`` (never pickles) with a sha256 recorded by the caller and checked on load."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import scipy.sparse as sp


class ArtifactIntegrityError(Exception):
    """The file on disk is not the one that was recorded: refuse it rather than serve from it."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> str:
    """Writes the arrays (no object dtype, so loading never unpickles) and returns the file's sha256."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        if np.asarray(array).dtype == object:
            raise ValueError(f"array {name!r} has object dtype, which would need pickling")
    np.savez_compressed(path, **arrays)
    return sha256_of(path)


def load_arrays(path: Path, expected_sha256: str) -> dict[str, np.ndarray]:
    actual = sha256_of(path)
    if actual != expected_sha256:
        raise ArtifactIntegrityError(f"{path} has sha256 {actual}, expected {expected_sha256}")
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def sparse_to_arrays(prefix: str, matrix: sp.spmatrix) -> dict[str, np.ndarray]:
    csr = sp.csr_matrix(matrix)
    return {
        f"{prefix}_data": csr.data,
        f"{prefix}_indices": csr.indices,
        f"{prefix}_indptr": csr.indptr,
        f"{prefix}_shape": np.array(csr.shape),
    }


def arrays_to_sparse(prefix: str, arrays: dict[str, np.ndarray]) -> sp.csr_matrix:
    return sp.csr_matrix(
        (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
        shape=tuple(arrays[f"{prefix}_shape"]),
    )

"""Permutation sets for jigsaw puzzles: Hamming distances and the greedy selection of Noroozi & Favaro (2016).

A puzzle of g x g tiles is shuffled by a permutation of 0..g*g-1; the network is told only which
permutation of a fixed set was used. The set must be far apart (in Hamming distance: the number
of positions at which two permutations differ), otherwise two classes differ by a swap of two
tiles and the task becomes ambiguous. Algorithm 1 of the paper enumerates all (g*g)!
permutations, starts from a random one, and repeatedly adds the candidate farthest from the set.
"""
from __future__ import annotations

import itertools
import math
import os
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..core.data import data_dir
from ..core.validate import check_int

CRITERIA = ("average", "minimum")
# 10! = 3,628,800 candidates x 10 positions is 36 MB of int8; 11! would be 440 MB
MAX_CANDIDATES = math.factorial(10)


def check_permutations(permutations, num_tiles: int | None = None, name: str = "permutations") -> np.ndarray:
    """Validate a set of permutations (M, K): every row holds 0..K-1 exactly once."""
    try:
        P = np.asarray(permutations.cpu() if hasattr(permutations, "cpu") else permutations)
    except Exception as err:
        raise TypeError(f"{name} must be an array of permutations (M, K), got {type(permutations).__name__}") from err
    if P.ndim != 2 or P.shape[0] < 1:
        raise ValueError(f"{name} must be a 2-D array (number of permutations, number of tiles), "
                         f"got shape {P.shape}")
    if not np.issubdtype(P.dtype, np.integer):
        raise TypeError(f"{name} must hold integers, got dtype {P.dtype}")
    K = P.shape[1]
    if num_tiles is not None and K != num_tiles:
        raise ValueError(f"{name} must permute {num_tiles} tiles (one column per tile), got {K} columns")
    bad = np.flatnonzero((np.sort(P, axis=1) != np.arange(K)).any(axis=1))
    if len(bad):
        raise ValueError(f"{name}: row {bad[0]} is not a permutation of 0..{K - 1}: {P[bad[0]].tolist()}")
    return P


@lru_cache(maxsize=2)
def all_permutations(grid: int = 3) -> np.ndarray:
    """Every permutation of the g*g tiles, (g*g)! rows of int8 in lexicographic order (read-only)."""
    grid = check_int("grid", grid, 2, hint=" (tiles per side)")
    K = grid * grid
    count = math.factorial(K)
    if count > MAX_CANDIDATES:
        raise ValueError(f"grid={grid} has ({K})! = {count:,} permutations, too many to enumerate "
                         f"(at most {MAX_CANDIDATES:,}); use grid <= 3, or random_permutations(num, grid={grid})")
    P = np.fromiter(itertools.chain.from_iterable(itertools.permutations(range(K))), dtype=np.int8,
                    count=count * K).reshape(count, K)
    P.flags.writeable = False
    return P


def hamming_distances(P, Q) -> np.ndarray:
    """Hamming distances (len(P), len(Q)) between two sets of permutations (rows)."""
    P = check_permutations(np.atleast_2d(np.asarray(P)), name="P")
    Q = check_permutations(np.atleast_2d(np.asarray(Q)), P.shape[1], name="Q")
    return (P[:, None, :] != Q[None, :, :]).sum(-1)


def greedy_select(candidates, num: int, criterion: str = "minimum", first: int = 0) -> np.ndarray:
    """Algorithm 1: start from candidates[first], keep adding the candidate farthest from the set.

    `criterion` "average" maximises the mean Hamming distance to the chosen set (the paper's
    Algorithm 1), "minimum" the distance to the nearest chosen permutation. Ties go to the
    earliest candidate, so shuffling the candidates breaks them at random. Returns indices into
    `candidates`. A running sum (or minimum) of distances makes each step one pass over them.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    C = check_permutations(candidates, name="candidates")
    num = check_int("num", num)
    M, K = C.shape
    if num > M:
        raise ValueError(f"num must be at most the number of candidates ({M}), got {num}")
    first = check_int("first", first, 0, M - 1, hint=" (an index into the candidates)")
    columns = np.ascontiguousarray(C.T.astype(np.int8))  # position by position: each compare is contiguous
    score = np.full(M, np.iinfo(np.int32).max if criterion == "minimum" else 0, dtype=np.int32)
    taken = np.zeros(M, dtype=bool)
    chosen = [int(first)]
    d = np.empty(M, dtype=np.int8)
    for _ in range(num - 1):
        p = columns[:, chosen[-1]]
        d.fill(0)
        for i in range(K):
            d += columns[i] != p[i]
        if criterion == "minimum":
            np.minimum(score, d, out=score)  # chosen candidates reach 0 and are never picked again
        else:
            score += d
        taken[chosen[-1]] = True
        # an already chosen candidate can still have the largest sum of distances: exclude it
        chosen.append(int(np.argmax(np.where(taken, -1, score))))
    return np.asarray(chosen, dtype=np.int64)


def greedy_permutations(num: int = 100, grid: int = 3, criterion: str = "minimum", seed: int = 0) -> np.ndarray:
    """A maximal-Hamming-distance permutation set (num, g*g), computed (no cache), deterministic from `seed`."""
    num = check_int("num", num)
    candidates = all_permutations(grid)
    if num > len(candidates):
        raise ValueError(f"num must be at most {len(candidates)} for grid={grid}, got {num}")
    # one random order decides both the random first permutation and how ties are broken
    order = np.random.default_rng(seed).permutation(len(candidates))
    shuffled = candidates[order]
    return shuffled[greedy_select(shuffled, num, criterion, first=0)].astype(np.int64)


def permutation_file(num: int, grid: int = 3, criterion: str = "minimum", seed: int = 0) -> Path:
    """Where a greedy permutation set is cached (under the course's data folder)."""
    return data_dir() / "permutations" / f"jigsaw-{criterion}-grid{grid}-n{num}-seed{seed}.npy"


def permutation_set(num: int = 100, grid: int = 3, criterion: str = "minimum", seed: int = 0,
                    cache: bool = True) -> np.ndarray:
    """The greedy permutation set (num, g*g), loaded from the disk cache or computed and cached."""
    num, grid = check_int("num", num), check_int("grid", grid, 2, hint=" (tiles per side)")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    if not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return _permutation_set(num, grid, criterion, int(seed), cache).copy()


@lru_cache(maxsize=16)
def _permutation_set(num: int, grid: int, criterion: str, seed: int, cache: bool) -> np.ndarray:
    path = permutation_file(num, grid, criterion, seed)
    if cache and path.exists():
        try:
            P = check_permutations(np.load(path), grid * grid)
            if len(P) != num:
                raise ValueError(f"it holds {len(P)} permutations, not {num}")
            return P.astype(np.int64)
        except Exception as err:  # a half-written or foreign file must not stop a lesson
            warnings.warn(f"Permutation set {path} could not be used ({err}); computing it again.")
    P = greedy_permutations(num, grid, criterion, seed)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
        np.save(tmp, P.astype(np.int8))
        os.replace(tmp, path)
    return P


def random_permutations(num: int = 100, grid: int = 3, seed: int = 0) -> np.ndarray:
    """`num` distinct permutations drawn uniformly at random (the baseline for the greedy set)."""
    num, grid = check_int("num", num), check_int("grid", grid, 2, hint=" (tiles per side)")
    K = grid * grid
    if num > math.factorial(K):
        raise ValueError(f"num must be at most {K}! = {math.factorial(K)} for grid={grid}, got {num}")
    rng = np.random.default_rng(seed)
    P = np.empty((0, K), dtype=np.int64)
    while len(P) < num:  # redraw the few duplicates, keeping the order of first appearance
        more = rng.permuted(np.tile(np.arange(K), (num - len(P), 1)), axis=1)
        P = np.concatenate([P, more])
        _, first = np.unique(P, axis=0, return_index=True)
        P = P[np.sort(first)]
    return P[:num]


def set_distances(permutations) -> dict:
    """The minimum and mean Hamming distance over all pairs of a permutation set."""
    P = check_permutations(permutations)
    if len(P) < 2:
        raise ValueError(f"permutations must hold at least 2 permutations to have pairwise distances, got {len(P)}")
    D = np.zeros((len(P), len(P)), dtype=np.int64)
    for start in range(0, len(P), 256):  # blocks keep a 1,000-set's comparison small in memory
        D[start:start + 256] = hamming_distances(P[start:start + 256], P)
    pairs = D[np.triu_indices(len(P), k=1)]
    return {"num": len(P), "min": int(pairs.min()), "mean": float(pairs.mean()), "max": int(pairs.max())}

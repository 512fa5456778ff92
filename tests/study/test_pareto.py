"""Pareto sets and hypervolume, checked against brute force and against Optuna's own code."""

import numpy as np
import pytest

from workbench.study import hypervolume, knee_point, non_dominated, reference_point


def brute_front(points, directions):
    """O(n^2) reference: rows with NaN are off the front and dominate nothing."""
    sign = np.array([-1 if d == "maximize" else 1 for d in directions])
    p = np.asarray(points, dtype=float).reshape(-1, len(directions)) * sign
    valid = [not np.isnan(row).any() for row in p]
    keep = []
    for i in range(len(p)):
        dominated = any(
            (p[j] <= p[i]).all() and (p[j] < p[i]).any()
            for j in range(len(p))
            if j != i and valid[j]
        )
        keep.append(valid[i] and not dominated)
    return np.array(keep, dtype=bool)


@pytest.mark.parametrize("dims", [2, 3, 4])
@pytest.mark.parametrize("seed", range(5))
def test_front_matches_brute_force(dims, seed):
    rng = np.random.default_rng(seed)
    # integer grid values force ties and duplicates
    pts = rng.integers(0, 6, size=(60, dims)).astype(float)
    dirs = ["maximize"] + ["minimize"] * (dims - 1)
    np.testing.assert_array_equal(non_dominated(pts, dirs), brute_front(pts, dirs))


ALL_DIRECTIONS = ("minimize", "maximize")


@pytest.mark.parametrize("dims", [2, 3])
@pytest.mark.parametrize("seed", range(40))
def test_front_with_ties_and_nan_matches_brute_force(dims, seed):
    """Ties in every column, duplicate points and NaN cells, every direction pattern."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 90))
    grid = seed % 2 == 0
    pts = rng.integers(0, 6, size=(n, dims)).astype(float) if grid else rng.random((n, dims))
    if n > 3:
        pts[-1] = pts[0]  # a duplicate
        pts[rng.random((n, dims)) < 0.05] = np.nan
    dirs = [ALL_DIRECTIONS[int(rng.integers(2))] for _ in range(dims)]
    np.testing.assert_array_equal(non_dominated(pts, dirs), brute_front(pts, dirs))


@pytest.mark.parametrize("dims", [2, 3])
def test_nan_rows_are_never_on_the_front(dims):
    pts = np.array([[np.nan] * dims, [1.0] * dims, [np.nan] + [0.0] * (dims - 1)])
    assert non_dominated(pts, ["minimize"] * dims).tolist() == [False, True, False]
    assert not non_dominated(np.full((4, dims), np.nan), ["minimize"] * dims).any()


def test_front_keeps_infinite_values():
    pts = np.array([[0.0, np.inf], [1.0, np.inf], [np.inf, 0.0]])
    expected = brute_front(pts, ["minimize", "minimize"])
    assert expected.tolist() == [True, False, True]
    np.testing.assert_array_equal(non_dominated(pts, ["minimize", "minimize"]), expected)


@pytest.mark.parametrize("seed", range(5))
def test_front_matches_optuna(seed):
    from optuna.study._multi_objective import _is_pareto_front

    rng = np.random.default_rng(seed)
    pts = rng.random((200, 2))
    ours = non_dominated(pts, ["minimize", "minimize"])
    theirs = _is_pareto_front(pts, assume_unique_lexsorted=False)
    np.testing.assert_array_equal(ours, theirs)


def test_hypervolume_2d_known_value():
    # accuracy up, latency down; staircase area by hand
    pts = [(0.9, 2.0), (0.8, 1.0), (0.95, 4.0), (0.7, 3.0)]  # last one is dominated
    hv = hypervolume(
        [(lat, acc) for acc, lat in pts], reference=(5.0, 0.0), directions=["minimize", "maximize"]
    )
    # slabs: latency 1-2 at 0.8, 2-4 at 0.9, 4-5 at 0.95
    assert hv == pytest.approx(1 * 0.8 + 2 * 0.9 + 1 * 0.95)


@pytest.mark.parametrize("dims", [2, 3])
def test_hypervolume_matches_optuna(dims):
    from optuna._hypervolume import compute_hypervolume

    rng = np.random.default_rng(7)
    pts = rng.random((40, dims))
    ref = np.ones(dims) * 1.1
    ours = hypervolume(pts, ref, ["minimize"] * dims)
    theirs = compute_hypervolume(pts, ref)
    assert ours == pytest.approx(theirs, rel=1e-9)


def test_points_beyond_the_reference_add_nothing():
    assert hypervolume([(2.0, 2.0)], (1.0, 1.0), ["minimize", "minimize"]) == 0.0
    assert hypervolume(np.zeros((0, 2)), (1.0, 1.0), ["minimize", "minimize"]) == 0.0


def test_reference_point_is_worse_than_all():
    pts = np.array([[0.9, 3.0], [0.5, 1.0]])
    ref = reference_point(pts, ["maximize", "minimize"])
    assert ref[0] <= 0.5 and ref[1] > 3.0


def test_knee_point_picks_the_bend():
    # an L-shaped front: the corner is the knee
    pts = [(1.0, 0.0), (1.1, 0.9), (3.0, 0.95), (10.0, 0.99)]
    k = knee_point(pts, ["minimize", "maximize"])
    assert k == 1
    assert knee_point([(1.0, 0.5)], ["minimize", "maximize"]) == 0

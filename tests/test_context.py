"""Unit tests of ``kernex._src.interp.context``: the ``Context`` contract and ``SliceContext``'s reads, caches and
patches; contexts without regions (a cells-only one, kscan's wavefront ``GatherContext``) with large windows."""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from reference import jaxpr_equations, kmap_reference, kmap_reference_vectorized, kscan_reference, mat

import kernex
from kernex._src.interp.context import Context as BaseContext
from kernex._src.interp.context import SliceContext as Context
from kernex._src.interp.large_windows import reduce_boxes
from kernex._src.interp.values import (
    Cell,
    Dense,
    Grid,
    Scaled,
    Source,
    Uniform,
    object_array,
    window_grid,
)
from kernex._src.lower.wavefront import GatherContext
from kernex._src.window.boundary import pad_state
from kernex._src.window.geometry import Layout, resolve_geometry
from kernex._src.window.taps import cell_slice

STATE = np.arange(1.0, 43.0, dtype=np.float32).reshape(6, 7)
LAYOUT = Layout(origin=(1, 0), out_shape=(2, 3), strides=(2, 2))  # windows start at (1 + 2a, 2b)


def _context(layout=LAYOUT):
    return Context(layout, unroll_limit=256)


def _expected_cell(state, layout, offset):
    """``state[origin + offset + o * strides]`` for every window ``o``, by hand."""
    out = np.empty(layout.out_shape, state.dtype)
    for o in np.ndindex(*layout.out_shape):
        out[o] = state[tuple(g + j + i * s for g, j, i, s in zip(layout.origin, offset, o, layout.strides))]
    return out


# ----------------------------------------------------------------------------- cells and caching


@pytest.mark.parametrize("offset", [(0, 0), (1, 2), (2, 0), (0, 1)])
def test_cell_is_a_strided_shifted_slice(offset):
    ctx = _context()
    got = ctx.cell(Cell(Source(jnp.asarray(STATE)), offset))
    np.testing.assert_array_equal(np.asarray(got), _expected_cell(STATE, LAYOUT, offset))
    assert ctx.reads == {offset}


def test_same_cell_gives_the_same_slice_object():
    ctx = _context()
    source = Source(jnp.asarray(STATE))
    first = ctx.cell(Cell(source, (1, 1)))
    assert ctx.cell(Cell(source, (1, 1))) is first  # a new Cell object for the same source and offset
    assert ctx.resolve(Cell(source, (1, 1))) is first
    assert ctx.cell(Cell(source, (1, 2))) is not first
    other = Source(jnp.asarray(STATE))
    assert ctx.cell(Cell(other, (1, 1))) is not first  # caching is per source
    assert ctx.reads == {(1, 1), (1, 2)}


def test_cache_survives_garbage_collection_of_sources():
    """The cache is keyed by id(source); it must keep sources alive so ids are not reused."""
    ctx = _context()
    slices = []
    for k in range(20):
        source = Source(jnp.asarray(STATE) * k)
        slices.append((k, ctx.cell(Cell(source, (0, 0)))))
        del source
    for k, got in slices:
        np.testing.assert_array_equal(np.asarray(got), _expected_cell(STATE * k, LAYOUT, (0, 0)))


def test_source_transform_is_applied_to_what_is_read():
    ctx = _context()
    source = Source(jnp.asarray(STATE), lambda piece: piece * 10 + 1)
    got = ctx.cell(Cell(source, (1, 0)))
    np.testing.assert_array_equal(np.asarray(got), _expected_cell(STATE, LAYOUT, (1, 0)) * 10 + 1)
    np.testing.assert_array_equal(np.asarray(source.read(jnp.ones(3))), [11, 11, 11])
    assert Source(jnp.ones(2)).read(jnp.ones(3)).shape == (3,)


def test_whole_array_cell():
    """A cell covering the whole source (unit strides, one window per state cell)."""
    layout = Layout(origin=(0, 0), out_shape=STATE.shape, strides=(1, 1))
    ctx = _context(layout)
    got = ctx.cell(Cell(Source(jnp.asarray(STATE), jnp.negative), (0, 0)))
    np.testing.assert_array_equal(np.asarray(got), -STATE)


def test_region_records_every_cell_of_the_box():
    ctx = _context()
    got = ctx.region(Source(jnp.asarray(STATE)), (1, 0), (2, 3))
    assert ctx.reads == set(itertools.product([1, 2], [0, 1, 2]))
    # rows 1 + 1 .. 1 + 1 + (2 - 1) * 2 + 2, columns 0 .. (3 - 1) * 2 + 3: every window's box
    np.testing.assert_array_equal(np.asarray(got), STATE[2:6, 0:7])


def test_materialize_transforms_only_the_cells_windows_read():
    """The materialised source covers every window's (2, 2) box and nothing else; cells read back match."""
    ctx = _context()
    source = Source(jnp.asarray(STATE))
    derived = ctx.materialize(source, lambda piece: piece * 10, (1, 0), (2, 2))
    # box rows 1 + 1 .. 1 + 1 + 2 + 2 - 1 = 2..5, columns 0 .. 2*2 + 2 - 1 = 0..5
    assert derived.shift == (2, 0) and derived.base.shape == (4, 6)
    np.testing.assert_array_equal(np.asarray(derived.base), STATE[2:6, 0:6] * 10)
    np.testing.assert_array_equal(np.asarray(ctx.cell(Cell(derived, (2, 1)))), _expected_cell(STATE, LAYOUT, (2, 1)) * 10)
    # stride 2 over a box one cell wide leaves unread columns: nothing is materialised
    assert ctx.materialize(source, lambda piece: piece, (0, 0), (1, 1)) is None


# ----------------------------------------------------------------------------- uniforms and scalars


def test_scalar_and_caching():
    ctx = _context()
    weights = Uniform(np.arange(6.0).reshape(2, 3))
    assert weights.concrete and weights.shape == (2, 3)
    first = ctx.scalar(weights, (1, 2))
    assert first == 5.0 and isinstance(first, np.ndarray | np.generic)
    assert ctx.scalar(weights, (1, 2)) is first
    rank0 = Uniform(np.float32(2.5))
    assert ctx.scalar(rank0, ()) is rank0.value
    assert ctx.reads == set()  # uniforms are not window cells


def test_scalar_of_a_tracer():
    def f(w):
        ctx = _context()
        weights = Uniform(w)
        assert not weights.concrete
        value = ctx.scalar(weights, (1,))
        assert ctx.scalar(weights, (1,)) is value
        return value

    assert float(jax.jit(f)(jnp.array([1.0, 7.0]))) == 7.0


def test_resolve_scaled_and_constants():
    ctx = _context()
    source = Source(jnp.asarray(STATE))
    weights = Uniform(np.array([[2.0, -3.0]]))
    got = ctx.resolve(Scaled(Cell(source, (0, 1)), weights, (0, 1)))
    np.testing.assert_array_equal(np.asarray(got), -3.0 * _expected_cell(STATE, LAYOUT, (0, 1)))
    assert ctx.resolve(1.5) == 1.5  # position-independent entries pass through
    assert ctx.reads == {(0, 1)}


# ----------------------------------------------------------------------------- element (broadcasting)


def test_element_broadcasts_like_numpy():
    ctx = _context()
    source = Source(jnp.asarray(STATE))
    column = object_array((3, 1))
    for i in range(3):
        column[i, 0] = Cell(source, (i, 0))
    grid = Grid(column, np.float32)
    # index of the broadcast shape (3, 4): the size-1 axis always reads entry 0
    for i, j in itertools.product(range(3), range(4)):
        np.testing.assert_array_equal(np.asarray(ctx.element(grid, (i, j))), _expected_cell(STATE, LAYOUT, (i, 0)))
    # extra leading axes of the broadcast shape are ignored
    np.testing.assert_array_equal(np.asarray(ctx.element(grid, (5, 2, 3))), _expected_cell(STATE, LAYOUT, (2, 0)))
    row = Uniform(np.array([[10.0, 20.0, 30.0]]))
    assert ctx.element(row, (2, 1)) == 20.0
    assert ctx.element(Uniform(np.float32(4.0)), (2, 1)) == 4.0
    assert ctx.reads == {(0, 0), (1, 0), (2, 0)}


def test_entries_of():
    ctx = _context()
    entries = ctx.entries_of(Uniform(np.arange(6).reshape(3, 2)))
    assert entries.dtype == object and entries.shape == (3, 2)
    assert [int(e) for e in entries.flat] == list(range(6))
    grid = Grid(object_array((2,), 1.0), np.float32)
    assert ctx.entries_of(grid) is grid.entries


# ----------------------------------------------------------------------------- materialisation


def test_dense_of_a_uniform_broadcasts_over_positions():
    ctx = _context()
    got = ctx.dense(Uniform(np.array([1, 2, 3], np.int32)), jnp.float32)
    assert got.shape == (2, 3, 3) and got.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(got), np.broadcast_to([1.0, 2.0, 3.0], (2, 3, 3)))
    assert ctx.dense(Uniform(np.float32(2.0))).shape == (2, 3)


def test_dense_of_a_grid_stacks_entries():
    ctx = _context()
    source = Source(jnp.asarray(STATE))
    entries = object_array((2, 2))
    entries[0, 0], entries[0, 1] = Cell(source, (0, 0)), Cell(source, (1, 1))
    entries[1, 0] = Scaled(Cell(source, (0, 1)), Uniform(np.array([3.0])), (0,))
    entries[1, 1] = np.float32(7.0)  # a constant entry is broadcast
    got = ctx.dense(Grid(entries, np.float32))
    assert got.shape == (2, 3, 2, 2)
    expected = np.stack(
        [
            _expected_cell(STATE, LAYOUT, (0, 0)),
            _expected_cell(STATE, LAYOUT, (1, 1)),
            3.0 * _expected_cell(STATE, LAYOUT, (0, 1)),
            np.full((2, 3), 7.0),
        ],
        axis=-1,
    ).reshape(2, 3, 2, 2)
    np.testing.assert_array_equal(np.asarray(got), expected)
    assert ctx.dense(Grid(entries, np.float32), jnp.int32).dtype == jnp.int32
    scalar = Grid(object_array((), Cell(source, (1, 0))), np.float32)
    np.testing.assert_array_equal(np.asarray(ctx.dense(scalar)), _expected_cell(STATE, LAYOUT, (1, 0)))


def test_dense_passes_dense_values_through():
    ctx = _context()
    array = jnp.ones((2, 3, 4), jnp.int32)
    assert ctx.dense(Dense(array)) is array
    assert ctx.dense(Dense(array), jnp.float32).dtype == jnp.float32
    assert Dense(array).window_shape(2) == (4,)


# ----------------------------------------------------------------------------- window_grid


@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=(3, 3), padding="same"),
        dict(kernel_size=(2, 4), strides=(2, 3), padding=((1, 2), (-1, 3))),
        dict(kernel_size=(4, 1), strides=(1, 2), padding="valid"),
    ],
    ids=["same", "strided-cropped", "valid"],
)
@pytest.mark.parametrize("relative", [False, True])
def test_dense_window_grid_is_the_patches(kw, relative):
    """Materialising the patch gives the reference's patches (docs/semantics.md, "Windows" and "What the
    function receives")."""
    x = mat(6, 7)
    geometry = resolve_geometry(x.shape, kw["kernel_size"], kw.get("strides", 1), kw["padding"])
    ctx = Context(geometry.layout, unroll_limit=256)
    got = ctx.dense(window_grid(pad_state(x, geometry), geometry, relative))
    np.testing.assert_array_equal(np.asarray(got), kmap_reference(x, lambda v: v, relative=relative, **kw))
    assert ctx.reads == set(np.ndindex(*geometry.kernel))


def test_dense_box_patch_is_built_one_axis_at_a_time():
    """A 25x25 window of one source: 25 + 25 stacked slices, not 625, with the source's lazy transform applied."""
    x = jnp.asarray(mat(30, 32), jnp.float32)
    kw = dict(kernel_size=(25, 25), strides=(2, 1), padding="same")
    geometry = resolve_geometry(x.shape, kw["kernel_size"], kw["strides"], kw["padding"])

    def patches(x):
        ctx = Context(geometry.layout, unroll_limit=256)
        source = Source(pad_state(x, geometry), lambda piece: piece * 2.0)
        entries = object_array(geometry.kernel)
        for idx in np.ndindex(*geometry.kernel):
            entries[idx] = Cell(source, idx)
        return ctx.dense(Grid(entries, jnp.float32))

    slices = [e for e in jaxpr_equations(jax.make_jaxpr(patches)(x)) if e.primitive.name == "slice"]
    assert len(slices) <= 1 + 25 + 25  # the windows' region, then one slice per tap and axis
    expected = kmap_reference(np.asarray(x), lambda v: v, **kw)
    np.testing.assert_array_equal(np.asarray(jax.jit(patches)(x)), 2.0 * expected)


@pytest.mark.parametrize("rows", [1, 4])
def test_dense_of_a_transposed_box_is_the_transposed_patch(rows):
    """``v.T`` of a window (also with a single row: a length-1 axis may pair with either state axis)."""
    x = mat(6, 7)
    kw = dict(kernel_size=(rows, 3), strides=(1, 2), padding="same")
    geometry = resolve_geometry(x.shape, kw["kernel_size"], kw["strides"], kw["padding"])
    ctx = Context(geometry.layout, unroll_limit=256)
    grid = window_grid(pad_state(x, geometry), geometry, False)
    got = ctx.dense(Grid(grid.entries.T, grid.dtype))
    np.testing.assert_array_equal(np.asarray(got), kmap_reference(x, lambda v: v.T, **kw))


# ----------------------------------------------------------------------------- optional results (None) and box patches


class CellsOnly(BaseContext):
    """A context with no regions, patches or materialisations: every optional result is the default ``None``."""

    def cell(self, cell):
        self.reads.add(cell.offset)
        return cell.source.read(cell_slice(cell.source.base, self.layout, cell.offset, cell.source.shift))


def _grids(relative, shape=(4, 5), kernel=(3, 3)):
    """The window grid of an input with 'same' windows, as it is, raveled, transposed and raveled."""
    x = mat(*shape).astype(jnp.float32)
    geometry = resolve_geometry(x.shape, kernel, 1, "same")
    grid = window_grid(pad_state(x, geometry), geometry, relative)
    shapes = {"box": grid.entries, "ravel": grid.entries.reshape(-1), "T-ravel": grid.entries.T.reshape(-1)}
    return x, geometry, {name: Grid(entries, grid.dtype) for name, entries in shapes.items()}


def test_optional_results_default_to_none_and_dense_stacks_cells():
    """``region``/``patch``/``materialize`` are optional: ``None`` by default, and ``dense`` then stacks one
    ``cell`` per entry (the wavefront's situation); never an error."""
    x, geometry, grids = _grids(relative=True)
    ctx = CellsOnly(geometry.layout, unroll_limit=256)
    source = grids["box"].entries.flat[0].source
    assert ctx.region(source, (0, 0), (3, 3)) is None
    assert ctx.patch(source, (0, 0), (3, 3)) is None
    assert ctx.materialize(source, jnp.sin, (0, 0), (3, 3)) is None
    for name, grid in grids.items():
        expected = Context(geometry.layout, unroll_limit=256).dense(grid)
        np.testing.assert_array_equal(np.asarray(ctx.dense(grid)), np.asarray(expected), err_msg=name)
    assert ctx.reads == set(np.ndindex(3, 3))


@pytest.mark.parametrize("relative", [False, True])
def test_dense_of_rolled_and_raveled_windows_is_one_box_patch(relative):
    """A relative view (each axis rolled), ``v.ravel()`` and ``v.T.ravel()`` of a 7x7 window read the windows'
    region once: 7 + 7 taps and a roll (two slices) per axis, not 49 slices, one per cell."""
    x, geometry, grids = _grids(relative, (8, 9), (7, 7))
    patches = kmap_reference_vectorized(x, lambda v: v, kernel_size=(7, 7), padding="same", relative=relative)
    expected = {"box": patches, "ravel": patches.reshape(8, 9, 49), "T-ravel": np.swapaxes(patches, -1, -2).reshape(8, 9, 49)}
    for name, grid in grids.items():
        ctx = Context(geometry.layout, unroll_limit=256)
        jaxpr = jax.make_jaxpr(lambda: ctx.dense(grid))()
        slices = [e for e in jaxpr_equations(jaxpr) if e.primitive.name == "slice"]
        assert len(slices) <= 1 + 7 + 7 + 2 * 2, (name, len(slices))
        np.testing.assert_array_equal(np.asarray(Context(geometry.layout, 256).dense(grid)), expected[name], err_msg=name)


def test_dense_of_a_reversed_window_reorders_the_box_patch():
    """Cells of a box in an order that is no roll (``v[::-1]``): one patch, reordered along the axis."""
    x, geometry, grids = _grids(relative=False)
    grid = Grid(grids["box"].entries[::-1, ::-1], jnp.float32)
    patches = kmap_reference(x, lambda v: v[::-1, ::-1], kernel_size=(3, 3), padding="same")
    np.testing.assert_array_equal(np.asarray(Context(geometry.layout, 256).dense(grid)), patches)


# ----------------------------------------------------------------------------- contexts without regions


def _gather_context(width=3):
    """kscan's wavefront context over a (20, 20) state: ``width`` windows at scattered (traced) starts."""
    starts = jnp.asarray(np.array([[0, 0], [2, 1], [1, 3]][:width], np.int32))
    return GatherContext(starts, 2)


def test_box_plans_answer_none_without_regions():
    """Sum/max boxes and weighted boxes of a 17x17 window on a context with no regions: ``None`` (the rule
    falls back), not an error."""
    ctx = _gather_context()
    source = Source(jnp.ones((20, 20)))
    cells = [Cell(source, o) for o in itertools.product(range(17), range(17))]
    groups = object_array((1, len(cells)))
    for i, cell in enumerate(cells):
        groups[0, i] = cell
    assert ctx.region(source, (0, 0), (17, 17)) is None
    for name in ["reduce_sum", "reduce_max", "reduce_min"]:
        assert reduce_boxes(ctx, name, groups, jnp.float32) is None
    weights = Uniform(np.arange(289.0, dtype=np.float32).reshape(17, 17))
    for i, cell in enumerate(cells):
        groups[0, i] = Scaled(cell, weights, cell.offset)
    assert reduce_boxes(ctx, "reduce_sum", groups, jnp.float32) is None


def test_gather_patch_is_every_window_box():
    """``GatherContext.patch``: one gather of each window's box, the source's transform applied, reads recorded."""
    ctx = _gather_context()
    state = np.arange(400.0, dtype=np.float32).reshape(20, 20)
    got = ctx.patch(Source(jnp.asarray(state), lambda p: 2 * p, shift=(1, 0)), (2, 1), (17, 16))
    expected = [2 * state[r + 1 : r + 18, c + 1 : c + 17] for r, c in [(0, 0), (2, 1), (1, 3)]]
    np.testing.assert_array_equal(np.asarray(got), np.stack(expected))
    assert ctx.reads == set(itertools.product(range(2, 19), range(1, 17)))


def test_wavefront_with_a_17x17_window_falls_back_with_one_gather_per_box():
    """kscan's wavefront has no regions: a 17x17 window sum (and a sort) falls back to per-window evaluation
    on one gathered box per step (it used to crash; then it gathered 289 cells one by one)."""
    x = np.random.default_rng(13).standard_normal((20, 20)).astype(np.float32)
    kw = dict(kernel_size=(17, 17), padding="same")
    for f in [lambda w: w.sum() * 1e-3, lambda w: jnp.sort(w.ravel())[100] * 0.5]:
        apply = kernex.kscan(schedule="wavefront", **kw)(f)
        np.testing.assert_allclose(np.asarray(jax.jit(apply)(x)), kscan_reference(x, f, **kw), rtol=1e-5, atol=1e-5)
        gathers = [e for e in jaxpr_equations(jax.make_jaxpr(apply)(x)) if e.primitive.name == "gather"]
        assert len(gathers) <= 2, len(gathers)

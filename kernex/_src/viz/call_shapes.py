"""Input and output shapes of every child of a model, recorded while ``jax.eval_shape`` runs the model.

``summary(model, array)``, ``tree_box(model, array)`` and
``plot_model(model, array=array)`` show, for each node, the shapes it was
called with and returned. They come from :func:`record_calls`:

* **Call recording** (the model's class defines ``__call__``): the model is
  called once as ``model(array)`` under :func:`jax.eval_shape`, so nothing is
  computed (no FLOPs, no device memory for activations). While it runs, the
  ``__call__`` of every treeclass class in the model is temporarily replaced
  by a wrapper that records ``(arguments, result)`` as shape/dtype structs,
  keyed by the node's path, in call order. This is right whatever order the
  model calls its children in, and whatever it does between calls (a
  reshape, a concatenation, a residual connection). Classes are patched, not
  instances, because instances are frozen and Python looks ``__call__`` up on
  the type; the originals are restored in a ``finally``.
* **Sequential chain** (fallback when the model's class defines no ``__call__``):
  the layers, depth-first in declaration order, are evaluated one after the
  other with ``jax.eval_shape``; layer *i* gets the output of layer *i - 1*.
  Every layer must then be callable with one argument.

Choices made here (the ones users meet first are also in docs/viz.md):

* ``array`` must be an array - anything with ``shape`` and ``dtype``:
  ``jax.Array``, ``numpy`` arrays and scalars, ``jax.ShapeDtypeStruct`` - or
  a tuple/list/dict of arrays; any other leaf (a Python number or nested list
  of numbers, a ``str``) is a ``TypeError`` naming ``array`` before the
  model runs, with ``jnp.asarray(...)`` as the fix where it applies;
* a model that defines no ``__call__`` and is itself a layer has nothing to
  run on ``array``: ``TypeError`` saying to define ``__call__`` or omit ``array``;
* a node called several times shows its **first** call; a node the model
  never calls shows ``None`` (as without ``array``);
* a call with several arguments shows them comma-separated (keywords as
  ``name=value``), each rendered with ``fmt``; a tuple result renders as
  ``(f32[2], f32[3])``;
* the same instance used at two places of the tree records at both;
* a child called on a *copy* (e.g. inside ``jax.jit(self.layer)`` or after
  ``tree_map``) is not the node in the tree and is not recorded; nor are
  calls inside a ``jax.jit`` of the model's own code already traced before;
* the patching is process-wide while ``eval_shape`` runs: do not call these
  functions from several threads on models sharing classes;
* an error raised by the model propagates with a note saying which call failed.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from typing import Any, Callable

import jax
import numpy as np

from kernex._src.tree.format import fmt
from kernex._src.viz.model_walk import Path, label, layers, walk_nodes

__all__ = ["Call", "record_calls"]

_MISSING = object()


class Call:
    """One recorded call: arguments and result as ``jax.ShapeDtypeStruct`` pytrees."""

    __slots__ = ("args", "kwargs", "output")

    def __init__(self, args: tuple, kwargs: dict, output: Any):
        self.args, self.kwargs, self.output = args, kwargs, output

    @property
    def input_str(self) -> str:
        """``fmt`` of the argument (``f32[100,1]``); several arguments are comma-separated."""
        parts = [fmt(a) for a in self.args] + [f"{k}={fmt(v)}" for k, v in self.kwargs.items()]
        return ", ".join(parts) if parts else "()"

    @property
    def output_str(self) -> str:
        """``fmt`` of the result (``f32[100,128]``)."""
        return fmt(self.output)


def _abstract(tree: Any) -> Any:
    """Replace every array (tracers included) in ``tree`` by its ``jax.ShapeDtypeStruct``."""

    def leaf(x: Any) -> Any:
        return jax.ShapeDtypeStruct(x.shape, x.dtype) if isinstance(x, (jax.Array, np.ndarray)) else x

    return jax.tree_util.tree_map(leaf, tree)


def _recording(original: Callable, paths_of: dict[int, list[Path]], calls: dict[Path, Call], active: set[int]):
    """Wrap an unbound ``__call__`` so that calls on nodes of the tree are recorded (first call per path)."""

    @functools.wraps(original)
    def __call__(self, *args, **kwargs):
        key = id(self)
        if key in active or key not in paths_of:  # super().__call__ of a node being recorded, or a copy
            return original(self, *args, **kwargs)
        active.add(key)
        try:
            output = original(self, *args, **kwargs)
        finally:
            active.discard(key)
        call = Call(_abstract(args), _abstract(kwargs), _abstract(output))
        for path in paths_of[key]:
            calls.setdefault(path, call)
        return output

    return __call__


def _add_note(err: BaseException, note: str) -> None:
    if hasattr(err, "add_note"):  # Python >= 3.11
        err.add_note(note)


def _record_model_call(model: Any, array: Any, func: str) -> dict[Path, Call]:
    nodes = list(walk_nodes(model))
    paths_of: dict[int, list[Path]] = defaultdict(list)
    for path, node in nodes:
        paths_of[id(node)].append(path)
    classes = {type(node) for _, node in nodes if callable(node)}
    # resolve every __call__ before patching any, so a subclass never wraps its base's wrapper
    resolved = {cls: cls.__call__ for cls in classes}
    own = {cls: cls.__dict__.get("__call__", _MISSING) for cls in classes}
    calls: dict[Path, Call] = {}
    active: set[int] = set()
    try:
        for cls in classes:
            cls.__call__ = _recording(resolved[cls], paths_of, calls, active)
        jax.eval_shape(lambda a: model(a), array)
    except Exception as err:
        _add_note(err, f"(raised while {func} ran `model(array)` under jax.eval_shape to record each child's shapes)")
        raise
    finally:
        for cls, attr in own.items():
            if attr is _MISSING:
                del cls.__call__
            else:
                cls.__call__ = attr
    return calls


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_array(array: Any, func: str) -> None:
    """``TypeError`` naming ``array`` unless every leaf of it is array-like (has ``shape`` and ``dtype``)."""
    pairs = jax.tree_util.tree_flatten_with_path(array)[0]
    bad = next(((p, leaf) for p, leaf in pairs if not (hasattr(leaf, "shape") and hasattr(leaf, "dtype"))), None)
    if bad is None:
        return
    where, leaf = bad
    if where:
        given = (f"{type(array).__name__} whose element array{jax.tree_util.keystr(where)} is "
                 f"{type(leaf).__name__} {_short(leaf)}")
    else:
        given = f"{type(leaf).__name__} {_short(leaf)}"
    try:
        numeric = not isinstance(array, str) and np.asarray(array).dtype.kind in "biufc"
    except (TypeError, ValueError):
        numeric = False
    if numeric:
        fix = f"convert it first: `{func}(model, array=jnp.asarray({_short(array, 40)}))`."
    else:
        fix = (f"pass the input the model is called with, e.g. `{func}(model, array=jnp.ones((1, 3)))`, or "
               f"`array=jax.ShapeDtypeStruct((1, 3), jnp.float32)` for shapes only.")
    raise TypeError(
        f"{func}(model, array=...) runs `model(array)` under jax.eval_shape to record shapes, so `array` must be "
        f"an array (jax.Array, numpy.ndarray or jax.ShapeDtypeStruct) or a tuple/list/dict of arrays; got "
        f"{given}. To fix it, {fix}"
    )


def _record_chain(model: Any, array: Any, func: str) -> dict[Path, Call]:
    calls: dict[Path, Call] = {}
    current: Any = array
    for path, layer in layers(model):
        if not callable(layer) and not path:  # the model is itself a layer
            raise TypeError(
                f"{func}(model, array=...) shows the shapes of `model(array)`, but {type(model).__name__} defines "
                f"no __call__, so it cannot be run on `array`. Define `__call__(self, x)` on "
                f"{type(model).__name__}, or call `{func}(model)` without `array`."
            )
        if not callable(layer):
            raise TypeError(
                f"{func}(model, array=...) needs callable layers: {type(model).__name__} has no __call__, so its "
                f"layers are run one after another (each on the previous one's output), but layer "
                f"{label(layer, path)} at model.{'.'.join(path)} has no __call__ either. Define "
                f"`__call__(self, x)` on {type(model).__name__} (the shapes of each child's actual call are then "
                f"shown) or on {type(layer).__name__}, or call `{func}(model)` without `array`."
            )
        seen: list[Any] = []

        def step(a: Any, layer: Any = layer, seen: list = seen) -> Any:
            seen.append(_abstract(a))
            return layer(a)

        try:
            current = jax.eval_shape(step, current)
        except Exception as err:
            given = fmt(seen[0] if seen else current)
            _add_note(err, f"(raised while {func} evaluated layer {label(layer, path)} on {given})")
            raise
        calls[path] = Call((seen[0],), {}, current)
    return calls


def record_calls(model: Any, array: Any, func: str) -> dict[Path, Call]:
    """First recorded call of each node path (see the module docstring); ``{}`` when ``array`` is ``None``.

    ``func`` names the public function for error messages.
    """
    if array is None:
        return {}
    _check_array(array, func)
    if callable(model):
        return _record_model_call(model, array, func)
    return _record_chain(model, array, func)

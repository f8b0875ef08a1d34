"""``register_op`` refuses names that would shadow a method or attribute the class already has."""

from __future__ import annotations

import operator

import jax.numpy as jnp
import pytest
from seed_trees import Test

from kernex import treeclass


@pytest.mark.parametrize("name", ["sum", "mean", "reduce_sum", "asdict", "register_op"])
def test_builtin_method_names_are_refused(name):
    t = Test(1, 2, 3, "t")
    with pytest.raises(ValueError, match=rf"register_op\(name='{name}'\): '{name}' is a built-in treeclass method of "
                                         rf"Test \(`obj\.{name}`\); registering it would shadow that method on this "
                                         rf"instance\. Pick another `name`, e\.g\. name='my_{name}'\."):
        t.register_op(lambda leaf: leaf + 1, name=name)
    assert name not in vars(t)  # nothing was attached
    assert t.sum() == Test(1, 2, 3, "t") and t.reduce_sum() == 6  # the built-ins still work


def test_reduce_name_clash_and_class_body_methods_are_refused():
    @treeclass
    class Net:
        w: object

        def forward(self):
            return self.w

    net = Net(jnp.ones(2))
    with pytest.raises(ValueError, match=r"register_op\(name='forward'\): 'forward' is an attribute that class Net "
                                         r"defines \(`obj\.forward`\).*Pick another `name`"):
        net.register_op(abs, name="forward")
    with pytest.raises(ValueError, match=r"register_op\(name='sum'\): 'sum' is a built-in treeclass method"):
        net.register_op(abs, name="sum", reduce_op=operator.add)
    t = Test(1, 2, 3, "t")
    t.register_op(abs, name="mean_abs", reduce_op=operator.add)  # reduce_mean_abs is free
    assert t.reduce_mean_abs() == 6


def test_reregistering_an_instance_op_replaces_it():
    t = Test(1, 2, 3, "t")
    t.register_op(lambda leaf: leaf + 1, name="bump")
    t.register_op(lambda leaf: leaf + 10, name="bump")
    assert t.bump() == Test(11, 12, 13, "t")

"""The seed's treeclass examples shared by the treeclass and viz tests.

``Test`` and its instance ``A``, and the nested example with static fields ``level0``/``level1``/``level2``.
"""

from __future__ import annotations

from kernex import static_field, treeclass


@treeclass
class Test:
    __test__ = False  # not a pytest test class

    a: object
    b: object
    c: object
    name: str = static_field()


A = Test(10, 20, 30, "A")


@treeclass
class level0:
    a: int
    b: int = static_field()


@treeclass
class level1:
    d: level0 = level0(10, 20)


@treeclass
class level2:
    e: level1 = level1()
    f: level0 = level0(100, 200)

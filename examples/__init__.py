"""Worked examples of kernex: classic stencil problems next to their NumPy originals.

``examples.cfd`` indexes steps 1-11 of "CFD Python: 12 steps to Navier-Stokes"
(solvers in ``cfd_1d``, ``cfd_2d``, ``cfd_elliptic``). The examples use only the
public kernex API, ``jax`` and ``numpy``.
"""

"""How windows become XLA code: tracing, kmap's lowering, kscan's read analysis, planning and schedules.

* ``trace.py`` - trace each window function on an abstract patch;
* ``kmap.py`` - kmap: every function on all windows at once, combined by region;
* ``reads.py`` - kscan: the window cells each function reads;
* ``plan.py`` - kscan: the schedules that reproduce the sequential order exactly;
* ``cases.py`` - kscan: which function owns each window of a group;
* ``block.py`` / ``wavefront.py`` - kscan: the two families of schedules;
* ``kscan.py`` - kscan: trace, plan, run.

Everything here reads window data only through the interpreter's
``Context`` (``interp/context.py``).
"""

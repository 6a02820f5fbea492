"""The plan checker, where plugin packs' tests have always imported it from.

It lives in :mod:`qorch.compile.check` (the kernel uses it); this module re-exports it.
"""

from qorch.compile.check import plan_problems

__all__ = ["plan_problems"]

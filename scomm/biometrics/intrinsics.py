"""CPU instructions numba does not expose, for the bit-packed cylinders and index codes.

Both are LLVM intrinsics, so each compiles to one instruction where the processor has it
(``popcnt``, ``tzcnt``) and to LLVM's portable expansion elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llvmlite import ir
from numba import types
from numba.extending import intrinsic


@intrinsic
def _ctpop(typingctx, x):
    """The CPU's population count (llvm.ctpop): numba has no popcount of its own."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(fn, args)

    return sig, codegen


@intrinsic
def _cttz(typingctx, x):
    """Count of trailing zero bits (llvm.cttz): the next set bit of a word."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        fn = builder.module.declare_intrinsic("llvm.cttz", [ir.IntType(64), ir.IntType(1)])
        return builder.call(fn, [args[0], ir.Constant(ir.IntType(1), 0)])

    return sig, codegen


# Typed aliases for callers (mypy cannot see through numba's intrinsic decorator).
popcount: Callable[[Any], Any] = _ctpop  # type: ignore[assignment]
cttz: Callable[[Any], Any] = _cttz  # type: ignore[assignment]

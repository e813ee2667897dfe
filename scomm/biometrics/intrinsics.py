"""CPU instructions numba does not expose, for the bit-packed cylinders and index codes.

``popcount`` and ``cttz`` are LLVM intrinsics, so each compiles to one instruction where the
processor has it (``popcnt``, ``tzcnt``) and to LLVM's portable expansion elsewhere.
``deposit`` (x86's ``pdep``: the low bits of a word spread over a mask's set bits) has no
portable intrinsic: it is the instruction where the host has BMI2 and a loop elsewhere.
``load_u64`` reads eight bytes of a byte array at any offset as one little-endian word (every
platform scomm runs on is little-endian).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
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


@intrinsic
def _pdep(typingctx, x, mask):
    """x86 BMI2 ``pdep``: bit ``k`` of ``x`` goes to the ``k``-th set bit of ``mask``."""
    sig = types.uint64(types.uint64, types.uint64)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        fn = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(i64, [i64, i64]), "llvm.x86.bmi.pdep.64"
        )
        return builder.call(fn, args)

    return sig, codegen


@numba.njit(cache=True, nogil=True)
def _deposit_loop(x: Any, mask: Any) -> Any:
    out = np.uint64(0)
    k = np.uint64(0)
    while mask != 0:
        low = mask & (~mask + np.uint64(1))  # the lowest set bit
        out |= low * ((x >> k) & np.uint64(1))
        k += np.uint64(1)
        mask ^= low
    return out


@intrinsic
def _load_u64(typingctx, array, index):
    """Eight bytes of a uint8 array from ``index`` as one word (no alignment needed)."""
    sig = types.uint64(array, types.intp)

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        byte = builder.gep(ary.data, [args[1]])
        word = builder.bitcast(byte, ir.IntType(64).as_pointer())
        return builder.load(word, align=1)

    return sig, codegen


def _host_has_bmi2() -> bool:
    try:
        return bool(llvm.get_host_cpu_features().get("bmi2", False))
    except RuntimeError:  # features unknown to LLVM on this host
        return False


# Typed aliases for callers (mypy cannot see through numba's intrinsic decorator).
popcount: Callable[[Any], Any] = _ctpop  # type: ignore[assignment]
cttz: Callable[[Any], Any] = _cttz  # type: ignore[assignment]
_DEPOSIT: Any = _pdep if _host_has_bmi2() else _deposit_loop
deposit: Callable[[Any, Any], Any] = _DEPOSIT
load_u64: Callable[[Any, int], Any] = _load_u64  # type: ignore[assignment]

"""Compile every variant of the Triton kernels for a Hopper GPU (sm_90) without a GPU: catches
Triton compile errors before a lent-GPU session, and prints the vector width of the forward's
global loads (16-byte ``v4`` accesses are what the kernels are laid out for).

    pip install triton      # in any venv with torch; no GPU needed
    python scripts/compile_triton_kernels.py
"""

from __future__ import annotations

import itertools
import re

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from hebbtorch.kernels import alif_triton, diehl_cook_triton, lif_triton, refractory_triton

TARGET = GPUTarget("cuda", 90, 32)
LAUNCH = {"BLOCK": 128, "UNROLL": 8}


def compile_all(fn, signature: dict[str, str], variants: dict[str, tuple],
                launch: dict | None = None, num_warps: int = 1) -> str:
    """Compile fn for every combination of the constexprs in variants; return the last PTX.
    Pointers and M are declared 16-byte aligned / divisible, as Triton specialises real calls."""
    names = list(signature)
    aligned = {(names.index(n),): [["tt.divisibility", 16]] for n, t in signature.items()
               if t.startswith("*") or n == "M"}
    ptx = ""
    for values in itertools.product(*variants.values()):
        consts = {**(LAUNCH if launch is None else launch),
                  **dict(zip(variants, values, strict=True))}
        src = ASTSource(fn=fn, signature={**signature, **{k: "constexpr" for k in consts}},
                        constexprs=consts, attrs=aligned)
        ptx = triton.compile(src, target=TARGET,
                             options={"num_warps": num_warps, "enable_fp_fusion": False}).asm["ptx"]
    print(f"{fn.__name__}: {len(list(itertools.product(*variants.values())))} variants compiled")
    return ptx


def main() -> None:
    f32 = {n: "*fp32" for n in ("I", "beta", "thr", "v", "refrac", "spikes", "h")}
    ptx = compile_all(lif_triton._lif_forward,
                      {**f32, "mask": "*u8", "nonfinite": "*i32", "T": "i32", "M": "i32",
                       "R": "fp32"}, {"RESET": (0, 1), "REFR": (False, True),
                                      "STREAM": (False, True), "PREFETCH": (False, True)})
    loads = sorted(set(re.findall(r"ld\.global[.a-z0-9]*", ptx)))
    print(f"  global loads of the last variant: {', '.join(loads)}")
    compile_all(lif_triton._lif_backward,
                {"h": "*fp32", "mask": "*u8", "gS": "*fp32", "sS": "i32", "gH": "*fp32",
                 "sH": "i32",
                 **{n: "*fp32" for n in ("gV", "v0", "beta", "thr")}, "dI": "*bf16",
                 **{n: "*fp32" for n in ("dv0", "dbeta", "dthr")}, "T": "i32", "M": "i32",
                 "P": "*fp32"},
                {"RESET": (0, 1), "SURR": range(4), "REFR": (False, True),
                 "NEED_BETA": (False, True), "NEED_THR": (False, True)})
    compile_all(refractory_triton._refractory_forward,
                {**{n: "*fp32" for n in ("I", "inner", "out", "inner_seq", "out_seq", "u_seq")},
                 "nonfinite": "*i32", "T": "i32", "M": "i32", "P": "*fp32"},
                {"BINARY": (False, True)})
    compile_all(refractory_triton._refractory_backward,
                {"u_seq": "*fp64", "gI": "*fp64", "sI": "i32", "gO": "*fp64", "sO": "i32",
                 **{n: "*fp64" for n in ("gSi", "gSo", "dI", "d_inner0", "d_out0")},
                 "T": "i32", "M": "i32", "P": "*fp64"},
                {"BINARY": (False, True), "SURR": range(4)})
    compile_all(alif_triton._alif_forward,
                {**{n: "*fp32" for n in ("I", "beta", "rho", "omr", "thr", "v", "a", "s",
                                         "spikes", "h", "A")},
                 "nonfinite": "*i32", "T": "i32", "M": "i32", "P": "*fp32"}, {"RESET": (0, 1)})
    compile_all(alif_triton._alif_backward,
                {"h": "*fp32", "A": "*fp32", "gS": "*fp32", "sS": "i32", "gH": "*fp32",
                 "sH": "i32", "gA": "*fp32", "sA": "i32",
                 **{n: "*fp32" for n in ("gV", "gAs", "gSs", "beta", "rho", "omr", "dI", "dv0",
                                         "da0", "ds0")},
                 "T": "i32", "M": "i32", "P": "*fp32"}, {"RESET": (0, 1), "SURR": range(4)})
    f32 = ("W", "V", "GE", "GI", "REF", "theta", "thresh", "xpre", "post1", "post2", "counts",
           "pows")
    types = {**dict.fromkeys(f32, "*fp32"), **dict.fromkeys(("steps", "n_in", "n"), "i32"),
             **dict.fromkeys(("idx", "ptr", "slots", "qmax"), "*i32")}
    launch = {"G": 50, "BLOCK": diehl_cook_triton.BLOCK, "IN_BLOCK": 1024, "HAS_INPUT": True}
    dc = {a: types.get(a, "fp32") for a in diehl_cook_triton._dc_run.arg_names
          if a not in (*launch, "LEARN", "REST")}
    compile_all(diehl_cook_triton._dc_run, dc, {"LEARN": (False, True), "REST": (False, True)},
                launch, num_warps=4)


if __name__ == "__main__":
    main()

"""Which measured prompt speed stands for each llama.cpp tensor type, and what a quantization
name is made of before the file is here.

llama.cpp's prompt (matrix) kernels differ a lot per weight type on one CPU: on the 2-core
build VM Q4_1 reached about half of Q4_K's GFLOP/s. The machine benchmark times the types real
files are mostly made of (`MEASURED`); every other type borrows the figure of the measured type
whose kernel works the same way (`NEAREST`). No Qt here.
"""

from __future__ import annotations

# Timed by the machine benchmark, most common in downloads first: when the time budget runs out,
# the types left over borrow from `NEAREST` like any unmeasured type.
MEASURED: tuple[str, ...] = ("Q4_K", "Q6_K", "Q8_0", "Q5_0", "Q4_0", "Q5_K", "Q4_1", "F16")

# Unmeasured type -> the measured one whose kernel is nearest, and why:
# - 256-weight super-blocks whose activations llama.cpp quantizes to Q8_K (Q2_K, Q3_K, IQ4_XS,
#   the ternary TQ types) run K-quant dot products: Q4_K's figure.
# - the IQ1/IQ2/IQ3 codebook types decode each group through a grid lookup, slower per weight
#   than plain K-quants: the slowest measured K-quant, Q6_K (a guess on the safe side).
# - 32-weight blocks against Q8_0 activations: Q5_1 is Q5_0 plus a minimum (Q5_0), IQ4_NL and
#   MXFP4 are Q4_0's layout with a lookup table (Q4_0), Q8_1/Q8_K only ever hold activations.
# - BF16 and F32 weights go through the same float GEMM path as F16 (F16).
NEAREST: dict[str, str] = {
    "Q2_K": "Q4_K",
    "Q3_K": "Q4_K",
    "IQ4_XS": "Q4_K",
    "TQ1_0": "Q4_K",
    "TQ2_0": "Q4_K",
    "IQ1_S": "Q6_K",
    "IQ1_M": "Q6_K",
    "IQ2_XXS": "Q6_K",
    "IQ2_XS": "Q6_K",
    "IQ2_S": "Q6_K",
    "IQ3_XXS": "Q6_K",
    "IQ3_S": "Q6_K",
    "IQ2_M": "Q6_K",  # quantization names, not tensor types: mixes of the codebook types
    "IQ3_XS": "Q6_K",
    "Q5_1": "Q5_0",
    "IQ4_NL": "Q4_0",
    "MXFP4": "Q4_0",
    "Q8_1": "Q8_0",
    "Q8_K": "Q8_0",
    "BF16": "F16",
    "F32": "F16",
}

# What llama.cpp's quantization mixes put in a typical model's layer matrices (its
# llama_tensor_get_type): an "_M" mix keeps attn_v and the ffn_down of about half the layers
# one step up (Q6_K for Q4_K_M and Q5_K_M); ffn_down is about a quarter of a layer's
# parameters, so ~15 % of the weights. "_S" keeps fewer, "_L" more. Shares of the layer
# parameters; used before download, when only the quantization's name is known.
MIXES: dict[str, tuple[tuple[str, float], ...]] = {
    "Q2_K": (("Q2_K", 0.7), ("Q3_K", 0.15), ("Q4_K", 0.15)),
    "Q2_K_S": (("Q2_K", 0.85), ("Q4_K", 0.15)),
    "Q3_K_S": (("Q3_K", 1.0),),
    "Q3_K_M": (("Q3_K", 0.8), ("Q4_K", 0.15), ("Q5_K", 0.05)),
    "Q3_K_L": (("Q3_K", 0.7), ("Q5_K", 0.3)),
    "Q4_K_S": (("Q4_K", 0.9), ("Q5_K", 0.1)),
    "Q4_K_M": (("Q4_K", 0.85), ("Q6_K", 0.15)),
    "Q5_K_S": (("Q5_K", 1.0),),
    "Q5_K_M": (("Q5_K", 0.85), ("Q6_K", 0.15)),
    "IQ3_M": (("IQ3_S", 0.85), ("Q4_K", 0.15)),
}


def measured_type(type_name: str) -> str:
    """The measured type whose figure `type_name` uses (itself when measured)."""
    name = type_name.upper()
    return NEAREST.get(name, name)


def mix_of(quant: str) -> tuple[tuple[str, float], ...]:
    """Layer-parameter shares per tensor type of a quantization name ("Q4_K_M", "IQ4_XS",
    "Q8_0"...). Names not in `MIXES` are one type: their own, less a size suffix that only
    says how many tensors went one step up (Q4_K_L, Q6_K_XL -> Q4_K, Q6_K)."""
    name = quant.upper()
    if name in MIXES:
        return MIXES[name]
    for suffix in ("_XL", "_L", "_M", "_S"):
        base = name.removesuffix(suffix)
        if base != name and (base in MEASURED or base in NEAREST):
            return ((base, 1.0),)
    return ((name, 1.0),)

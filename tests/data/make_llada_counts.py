"""Regenerate ``llada_float32_exceptions.json`` (needs torch; not run by the tests).

For every n ≤ 64, b ≤ 64, k ≤ n it runs the two count lines of LLaDA's ``forward_process``
(``get_log_likelihood.py``) with torch and records the rows (n, b, k, j, count) where torch's
float32 result differs from the exact-rational rule round_half_even(k + j n / b), mod n.
``python tests/data/make_llada_counts.py > tests/data/llada_float32_exceptions.json``
"""

import json
import sys

import torch


def torch_counts(n, b, k):
    k = torch.tensor(k)
    x = torch.round(torch.linspace(float(k), k + (b - 1) * (n / b), steps=b)).long()
    return (((x - 1) % n) + 1).tolist()


def exact_counts(n, b, k):
    out = []
    for j in range(b):
        fl, rem = divmod(k * b + j * n, b)
        r = fl + (1 if 2 * rem > b else 0 if 2 * rem < b else fl % 2)
        out.append((r - 1) % n + 1)
    return out


rows = []
for n in range(1, 65):
    for b in range(1, 65):
        for k in range(1, n + 1):
            t, e = torch_counts(n, b, k), exact_counts(n, b, k)
            rows += [[n, b, k, j, t[j]] for j in range(b) if t[j] != e[j]]
json.dump(
    {
        "source": f"torch {torch.__version__}, CPU capability {torch.backends.cpu.get_cpu_capability()}: "
        "LLaDA forward_process counts x = ((round(linspace(k, k+(b-1)*(n/b), b)) - 1) % n) + 1 "
        "for n <= 64, b <= 64, k <= n; listed: [n, b, k, j, count] wherever they differ from "
        "round_half_even(k + j*n/b) computed exactly (all other entries agree with it)",
        "exceptions": rows,
    },
    sys.stdout,
    separators=(",", ":"),
)

"""The order of the runs in a round, and which uwsgi-fast run each other run is compared
with. Pure functions (no processes, no clock), unit-tested in test_bench.py.

A round runs every server of a scenario once, and uwsgi-fast (the base) once per block:
the other servers are shuffled (a seeded shuffle per round, so a run can be replayed) and
cut into blocks of two, and the base runs between the two of each block:

    round 1:  granian  BASE  bjoern   | uwsgi  BASE  fastwsgi | gunicorn  BASE
    round 2:  fastwsgi BASE  granian  | BASE  uwsgi  ...

so every server has a uwsgi-fast run next to it in every round, and its ratio for the
round is taken against that run: whatever the host did during those few seconds (a
build on the other core, the CPU clock) weighs on both sides of the ratio. A block of one
(an odd count, and the engine comparisons' side B) puts the base first or second by
turns. With `block` 0 (the --quick smoke) a round is the base once and then every other
server, in a rotated order.
"""

import random

PAIR = 2  # other servers per base run in a measured round


def round_order(others, rnd, seed, base, block=PAIR):
    """The runs of round `rnd` (0-based) as a list of (server key, block index); the
    base appears once per block (block 0: once, first). `others` are the servers
    compared with the base."""
    others = list(others)
    if not others:
        return [(base, 0)]
    if block <= 0:
        shift = rnd % len(others)
        return [(base, 0)] + [(k, 0) for k in others[shift:] + others[:shift]]
    keys = list(others)
    random.Random(seed * 1000003 + rnd).shuffle(keys)
    slots = []
    for i in range(0, len(keys), block):
        part, b = keys[i:i + block], i // block
        if len(part) == 1:
            pair = [(part[0], b), (base, b)]
            slots += pair if (rnd + b) % 2 == 0 else pair[::-1]
        else:
            half = len(part) // 2
            slots += [(k, b) for k in part[:half]] + [(base, b)] + \
                [(k, b) for k in part[half:]]
    return slots


def paired_ratios(rounds, base):
    """{server: [rps / rps of the base run in the same block, one per round]} from
    `rounds`, a list of rounds each a list of (server key, block index, req/s). A run whose
    base partner is missing or served nothing gives no ratio for that round."""
    out = {}
    for runs in rounds:
        base_rps = {b: rps for key, b, rps in runs if key == base}
        for key, b, rps in runs:
            if key == base:
                continue
            ref = base_rps.get(b)
            if ref:
                out.setdefault(key, []).append(rps / ref)
    return out

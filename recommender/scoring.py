"""Scores a client can read: 0..1 within one served list, from lists whose stored scores live on
unrelated scales (a blend for customer lists, item-kNN weights in the hundreds and content cosines
below 1 in one similar list, counts of recent sales for the last fallback).

The list's order is the selectors' and is kept. Each run of items from one source is divided by that
run's best score, and each later run is scaled to start no higher than where the previous one ended,
with a running minimum: so the first item scores 1, scores never rise down the list, and within a
run they stay proportional to the source's own score. No Django import.
"""

from __future__ import annotations

from collections.abc import Sequence


def list_scores(items: Sequence[tuple[str, float]]) -> list[float]:
    """``[(source, raw score), ...]`` in served order -> a score in [0, 1] for each item."""
    if not items:
        return []
    runs: list[list[float]] = []
    sources: list[str] = []
    for source, raw in items:
        if not sources or source != sources[-1]:
            sources.append(source)
            runs.append([])
        runs[-1].append(max(float(raw), 0.0))
    scores: list[float] = []
    ceiling = 1.0
    for run in runs:
        best = max(run)
        for raw in run:
            value = ceiling * (raw / best if best > 0 else 1.0)
            value = min(value, scores[-1]) if scores else value
            scores.append(round(value, 6))
        ceiling = scores[-1]
    return scores

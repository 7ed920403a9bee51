"""A ``progress(stage, done, total)`` callback that draws one tqdm bar per stage on stderr."""

from __future__ import annotations

import sys

from tqdm import tqdm


class StageBars:
    def __init__(self) -> None:
        self._bar: tqdm | None = None
        self._stage: str | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self._stage:
            self.close()
            self._stage = stage
            self._bar = tqdm(total=total, desc=stage, file=sys.stderr, leave=True)
        assert self._bar is not None
        self._bar.total = total
        self._bar.n = done
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def metrics_table(metrics: dict) -> str:
    header = ("ranker", "mode", "Recall@10", "NDCG@10", "HR@10", "coverage", "customers")
    lines = ["{:12s} {:4s} {:>9s} {:>8s} {:>6s} {:>8s} {}".format(*header)]
    for name, by_mode in metrics.items():
        for mode, m in by_mode.items():
            m = m if isinstance(m, dict) else m.as_dict()
            lines.append(
                f"{name:12s} {mode:4s} {m['recall']:9.4f} {m['ndcg']:8.4f} {m['hit_rate']:6.4f} "
                f"{m['coverage']:8.4f} {m['customers']}"
            )
    return "\n".join(lines)

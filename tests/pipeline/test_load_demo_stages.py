"""``load_demo``'s stage clock: every stage reports its time, and a long one is never silent."""

import time

from pipeline.management.commands.load_demo import StageClock


def test_each_stage_prints_its_time_and_a_long_stage_keeps_talking_until_the_summary():
    lines: list[str] = []
    with StageClock(lines.append, heartbeat=0.3) as clock:
        with clock.stage("import"):
            clock.step("reading")
            time.sleep(1.2)
        with clock.stage("training"):
            pass
    assert lines[0] == "[import] ..."
    talking = [line for line in lines if "still working" in line]
    assert talking and all(line.startswith("[import: reading] still working") for line in talking)
    assert any(line.startswith("[import] ") and line.endswith(" s") for line in lines[1:])
    summary = clock.summary()
    assert summary.startswith("Loaded in ") and "import 1." in summary and "training 0.0 s" in summary


def test_progress_reports_count_as_output_so_the_clock_stays_quiet_while_bars_move():
    lines: list[str] = []
    with StageClock(lines.append, heartbeat=0.5) as clock, clock.stage("forecasts"):
        for _ in range(8):
            clock.step("chunks")
            time.sleep(0.15)
    assert not [line for line in lines if "still working" in line]

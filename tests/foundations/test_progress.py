"""`progress_bar`: a tqdm bar on a terminal, a dozen plain lines (no `\\r` refreshes) in a log."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from tqdm import tqdm

from edgedepth.progress import LogProgress, progress_bar, quiet_library_bars


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_a_few_plain_lines_and_a_final_one(capsys) -> None:
    assert sum(1 for _ in progress_bar(range(1000), desc="items", unit="item")) == 1000
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err
    assert 1 <= len(lines) <= 15
    assert lines[-1].startswith("items: 1000/1000 item (100%) elapsed ")
    assert [line.split(" item")[0] for line in lines] == [f"items: {n}/1000" for n in range(100, 1001, 100)]


def test_a_disabled_bar_writes_nothing(capsys) -> None:
    stream = io.StringIO()
    assert list(progress_bar(range(50), desc="quiet", unit="item", disable=True, file=stream)) == list(range(50))
    with progress_bar(total=50, desc="quiet", unit="item", disable=True) as bar:
        bar.update(50)
    assert stream.getvalue() == "" and capsys.readouterr().err == ""


def test_an_update_driven_bar_with_a_postfix() -> None:
    stream = io.StringIO()
    with progress_bar(total=40, desc="flow hints", unit="clip", file=stream) as bar:
        assert isinstance(bar, LogProgress)
        for _ in range(40):
            bar.update()
            bar.set_postfix(loss="0.1234")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert lines[-1].startswith("flow hints: 40/40 clip (100%) elapsed ") and lines[-1].endswith(", loss=0.1234")


def test_closing_early_and_an_unknown_total_end_with_the_count() -> None:
    stream = io.StringIO()
    bar = progress_bar(range(3, 100), desc="steps", unit="step", initial=3, total=100, file=stream)
    for step in bar:
        if step == 7:
            break
    bar.close()
    bar.close()
    assert stream.getvalue().count("\n") == 1 and stream.getvalue().startswith("steps: 7/100 step (7%) elapsed ")
    stream = io.StringIO()
    list(progress_bar(iter(range(5)), desc="frames", unit="frame", file=stream))
    assert stream.getvalue().startswith("frames: 5 frame elapsed ") and stream.getvalue().count("\n") == 1


def test_a_slow_bar_writes_every_ten_seconds_between_tenths(monkeypatch) -> None:
    clock = iter(range(0, 10_000, 4))  # 4 s per call: the bar's start, then one call per update
    monkeypatch.setattr("edgedepth.progress.time.monotonic", lambda: float(next(clock)))
    stream = io.StringIO()
    list(progress_bar(range(301), desc="steps", unit="step", file=stream))
    lines = stream.getvalue().splitlines()
    assert lines[:2] == ["steps: 3/301 step (1%) elapsed 12.0s", "steps: 6/301 step (2%) elapsed 24.0s"]


def test_a_delayed_bar_that_ends_early_says_nothing() -> None:
    stream = io.StringIO()
    list(progress_bar(range(10), desc="frames", unit="frame", delay=60.0, file=stream))
    assert stream.getvalue() == ""


def test_a_terminal_gets_tqdm() -> None:
    stream = Terminal()
    bar = progress_bar(range(5), desc="items", unit="item", file=stream)
    assert isinstance(bar, tqdm)
    assert list(bar) == list(range(5))
    assert "\r" in stream.getvalue()


def test_library_bars_are_turned_off_in_a_log_and_kept_on_a_terminal(monkeypatch):
    """A library's own tqdm bar (coremltools, ai-edge-quantizer) writes nothing when edgedepth's output is a log."""
    script = ("import io, sys; from edgedepth.progress import quiet_library_bars; quiet_library_bars(); "
              "from tqdm import tqdm; [None for _ in tqdm(range(50), desc='library')]")
    env = {k: v for k, v in os.environ.items() if k != "TQDM_DISABLE"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0 and "library" not in done.stderr, done.stderr

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    quiet_library_bars(Terminal())
    assert "TQDM_DISABLE" not in os.environ
    monkeypatch.setenv("TQDM_DISABLE", "0")
    quiet_library_bars(io.StringIO())
    assert os.environ["TQDM_DISABLE"] == "0"  # the user's own setting wins

"""The RD table without pandas: ``rd_table`` sorts and ``rd_csv_writer`` writes what pandas'
``sort_values`` + ``to_csv`` did (the table a user already reads with pandas or a spreadsheet),
and the report reads it back exactly."""
import io
import math
import os
import subprocess
import sys

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pertitle.encoder.sweep import RD_COLUMNS, RD_ORDER, rd_table
from pertitle.pipeline.batch import csv_cell, rd_csv_writer
from pertitle.pipeline.report import RD_COLUMNS as REPORT_COLUMNS
from pertitle.pipeline.report import read_rd_table

from .conftest import QUICK

heights = st.sampled_from([180, 234, 270, 360])
maybe_int = st.one_of(st.none(), st.integers(10, 51))
finite = st.floats(0.01, 1e6, allow_nan=False, allow_infinity=False)

row = st.fixed_dictionaries({
    "title": st.sampled_from(["clip", "=cmd", "a,b", 'q"uote']),
    "codec": st.just("libx264"),
    "width": st.sampled_from([320, 416, 480]),
    "height": heights,
    "crf": maybe_int,
    "target_kbps": st.one_of(st.none(), st.integers(100, 9000)),
    "kbps": finite,
    "bytes": st.integers(1, 10 ** 9),
    "vmaf_mean": st.floats(0, 100),
    "psnr_y": st.one_of(st.none(), st.floats(10, 60)),
    "cached": st.booleans(),
    "key": st.text("0123456789abcdef", min_size=8, max_size=8),
})


def pandas_table(rows: list[dict]) -> pd.DataFrame:
    """What the commands wrote before: pandas' sort (NaN last, stable over several keys)."""
    df = pd.DataFrame(rows, columns=list(RD_COLUMNS))
    return df.sort_values(list(RD_ORDER)).reset_index(drop=True)


@settings(max_examples=150, deadline=None)
@given(st.lists(row, max_size=12))
def test_sort_and_csv_match_pandas(rows):
    table = rd_table(rows)
    assert all(list(r) == list(RD_COLUMNS) for r in table)
    buf = io.StringIO()
    rd_csv_writer(table)(buf)
    got = pd.read_csv(io.StringIO(buf.getvalue()))
    want = pandas_table(rows)
    # the same rows in the same order (text cells neutralised as the old writer did)
    assert list(got.columns) == list(RD_COLUMNS)
    want["title"] = want["title"].map(lambda t: "'" + t if t.startswith("=") else t)
    pd.testing.assert_frame_equal(got, pd.read_csv(io.StringIO(want.to_csv(index=False))),
                                  check_dtype=False)


@settings(max_examples=100, deadline=None)
@given(st.lists(row, min_size=1, max_size=8))
def test_the_report_reads_the_table_back_exactly(tmp_path_factory, rows):
    table = rd_table(rows)
    path = tmp_path_factory.mktemp("rd") / "t.rd.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        rd_csv_writer(table)(fh)
    back = read_rd_table(str(path))
    assert len(back) == len(table)
    for b, r in zip(back, table):
        for k in REPORT_COLUMNS[1:]:
            v = r.get(k)
            assert b[k] == (None if v is None else float(v)), k


def test_cells():
    assert csv_cell(None) == "" and csv_cell(float("nan")) == ""
    assert csv_cell(23) == "23" and csv_cell(True) == "True"
    assert csv_cell(0.1 + 0.2) == "0.30000000000000004"      # repr: exact round trip
    assert float(csv_cell(95.123456789012345)) == 95.123456789012345
    assert csv_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)" and csv_cell("-1x") == "'-1x"
    assert csv_cell("plain") == "plain"


def test_missing_values_sort_last_and_the_sort_is_stable():
    rows = [{"height": 270, "width": 480, "crf": None, "key": "a"},
            {"height": 270, "width": 480, "crf": 30, "key": "b"},
            {"height": 180, "width": 320, "crf": math.nan, "key": "c"},
            {"height": 270, "width": 480, "crf": None, "key": "d"},
            {"height": 180, "width": 320, "crf": 40, "key": "e"}]
    assert [r["key"] for r in rd_table(rows)] == ["e", "c", "b", "a", "d"]


def run_in_process(*args) -> subprocess.CompletedProcess:
    """The CLI run in a fresh interpreter that prints, last, whether pandas was imported."""
    code = ("import sys\nfrom pertitle.cli import cli\n"
            "try:\n    cli(sys.argv[1:], prog_name='pertitle')\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\n"
            "print('PANDAS' if 'pandas' in sys.modules else 'NO-PANDAS')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code, *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=600)


def test_analyze_writes_the_table_without_importing_pandas(make_clip, tmp_path):
    """The installed command's write path: the RD table on disk, sorted, and pandas (a fifth of
    a second of import) never loaded."""
    src = make_clip("rdtable.mp4", size="480x270", seconds=1)
    out = tmp_path / "t.ladder.json"
    p = run_in_process("analyze", src, "-o", out, "-q", "--cache", tmp_path / "c", *QUICK)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "NO-PANDAS"
    rd = read_rd_table(str(tmp_path / "t.rd.csv"))
    keys = [(r["height"], r["width"], r["crf"]) for r in rd]
    assert len(rd) == 4 and keys == sorted(keys)      # 2 sizes x 2 CRFs, in the table's order
    assert all(r["kbps"] > 0 and 0 <= r["vmaf_mean"] <= 100 for r in rd)


def test_the_model_guided_modes_do_not_import_pandas(make_clip, tmp_path):
    """predict and --fast predict with the shipped plain trees from a NumPy design matrix."""
    src = make_clip("rdpredict.mp4", size="480x270", seconds=2)
    p = run_in_process("predict", src, "-o", tmp_path / "p.json", "-q", "--cache", tmp_path / "c")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "NO-PANDAS"
    p = run_in_process("analyze", src, "--fast", "-o", tmp_path / "f.ladder.json", "-q",
                       "--cache", tmp_path / "c", "-j", "2")
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip().splitlines()[-1] == "NO-PANDAS"

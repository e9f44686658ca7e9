"""Fuzzing the model files: truncations, byte flips and field edits of a saved MLP, recurrent
network and char-rnn checkpoint.  Each load must give a working model or dagnet's own error,
within 5 s and 300 MB, measured in a fresh process (tests/hostile_probe.py)."""

from __future__ import annotations

from tests.test_hostile_files import probe

SECONDS_PER_MODEL = 1.0


def test_mutated_model_files_load_or_fail_cleanly_within_bounds(tmp_path):
    report = probe("fuzz", {"folder": str(tmp_path), "seed": 11,
                            "seconds": SECONDS_PER_MODEL})
    normal = max(r["peak_growth"] for r in report["baseline"].values())
    print(f"\n{report['cases']} mutated files; slowest load {report['max_seconds']:.3f} s; "
          f"largest peak memory growth {report['max_peak_growth'] / 1e6:.1f} MB "
          f"(a normal load: {normal / 1e6:.1f} MB)")
    for key, count in sorted(report["outcomes"].items()):
        print(f"  {key}: {count}")
    assert all(r["outcome"] == "loaded" for r in report["baseline"].values())
    assert not report["crashes"], report["crashes"][:3]
    assert report["cases"] >= 60
    outcomes = " ".join(report["outcomes"])
    for kind in ("graph", "recurrent", "charrnn"):
        assert f"{kind} edit config: refused" in outcomes
        assert f"{kind} truncate: refused" in outcomes
    assert report["max_seconds"] < 5
    assert report["max_peak_growth"] - normal < 300e6

"""An empty name given to an option that names an output (an unset shell variable: --out "$DIR") is one line,
exit 2, before anything runs: a test of the option's truth skipped the output silently (serve --out, roofline
and pareto --plot, trace --csv), and `sweep --out ''` wrote its results, front and plot into the current folder."""

import pytest

from hwsim.cli import main


@pytest.mark.parametrize(
    "argv, option",
    [
        (["sweep", "quickstart", "--out", ""], "--out"),
        (
            ["serve", "--arch", "h100-sxm", "--model", "gpt-2", "--rate", "1", "--num-requests", "3", "--out", ""],
            "--out",
        ),
        (["roofline", "--arch", "h100-sxm", "--model", "gpt-2", "--phase", "decode", "--plot", ""], "--plot"),
        (["trace", "--model", "gpt-2", "--phase", "decode", "--csv", ""], "--csv"),
        (["pareto", "x.csv", "--objectives", "seconds:min,energy_j:min", "--plot", ""], "--plot"),
        (["calibrate", "--arch", "h100-sxm", "--measurements", "x.csv", "--out", ""], "--out"),
    ],
)
def test_an_empty_output_name_is_refused(tmp_path, monkeypatch, capsys, argv, option):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:  # argparse's own error, one line (hwsim.cli._OneLineParser)
        main(argv)
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"argument {option}: an empty file or folder name" in err[0]
    assert list(tmp_path.iterdir()) == []  # nothing written in the current folder

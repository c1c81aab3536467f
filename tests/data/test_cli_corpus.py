"""`serkit corpus list` and the errors of `serkit corpus prepare` for unknown corpora and options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from serkit.cli import main
from serkit.core.options import option_names
from serkit.data.corpora import CORPORA, list_corpora


def test_list_prints_every_registered_corpus(capsys):
    assert main(["corpus", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == list_corpora()
    assert {
        "ravdess",
        "emodb",
        "crema_d",
        "esd",
        "jtes",
        "savee",
        "tess",
        "manifest",
        "scp",
        "dcnn_filelist",
        "case_csv",
    } <= set(list_corpora())
    ravdess = next(line for line in lines if line.startswith("ravdess "))
    assert "RAVDESS" in ravdess and "options:" not in ravdess


def test_list_verbose_shows_options_and_layout(capsys):
    assert main(["corpus", "list", "--verbose"]) == 0
    out = capsys.readouterr().out
    assert out.count("options:") == len(list_corpora())
    for name in list_corpora():
        expected = ", ".join(option_names(CORPORA.get(name))) or "(none)"
        assert f"options: {expected}\n" in out, name
    assert "options: vocal_channel, intensity" in out
    assert "AudioWAV/<actor>_<sentence>_<emotion>_<level>.wav" in out  # the CREMA-D layout line
    assert "Expected layout" in out


def test_prepare_unknown_corpus_exits_2_with_close_matches(tmp_path, capsys):
    output = tmp_path / "y.csv"
    corpus = tmp_path / "corpus"
    assert main(["corpus", "prepare", "nosuchcorpus", str(corpus), "-o", str(output)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("serkit: error: unknown corpus 'nosuchcorpus'")
    assert "Valid names:" in err and "ravdess" in err
    assert main(["corpus", "prepare", "ravdes", str(corpus), "-o", str(output)]) == 2
    assert "Did you mean 'ravdess'" in capsys.readouterr().err
    assert not output.exists()


def test_prepare_unknown_option_exits_2_naming_valid_options(tmp_path, capsys):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    sf.write(corpus / "03-01-05-01-02-01-01.wav", np.zeros(160, dtype=np.float32), 16000)
    output = tmp_path / "out" / "m.csv"
    assert (
        main(["corpus", "prepare", "ravdess", str(corpus), "-o", str(output), "--opt", "intensty=normal"])
        == 2
    )
    err = capsys.readouterr().err
    assert "unknown option of corpus 'ravdess' 'intensty'" in err
    assert "Did you mean 'intensity'?" in err and "Valid: vocal_channel, intensity." in err
    assert not output.exists()
    assert main(["corpus", "prepare", "ravdess", str(corpus), "-o", str(output), "--opt", "intensity"]) == 2
    assert "not of the form key=value" in capsys.readouterr().err
    assert (
        main(["corpus", "prepare", "ravdess", str(corpus), "-o", str(output), "--opt", "intensity=normal"])
        == 0
    )
    assert Path(output).is_file()

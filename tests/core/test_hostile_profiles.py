"""Catalogue profiles (TIERWISE_CATALOGUE), the one YAML loader and the values error lines repeat,
against bad and hostile input (issue 20).

Each case is a named test: `tierwise models` / `size` / `plan` end in one `error:` line naming the
file and what is allowed, exit 2, nothing on stdout, no traceback; a profile that is not a regular
file never hangs the catalogue; no number in a profile can reach an OverflowError in the sizing.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest

from model_profiles.loader import PROFILE_MAX_BYTES, _catalogue
from model_profiles.schema import SHAPE_RANGES
from model_profiles.userinput import load_json, load_yaml, quoted, shown
from stacks.app_context import read
from tests.core.raw_gguf import llama_header, write_gguf
from tierwise.cli import main
from tierwise.errors import LINE_MAX, TierwiseError, UserError, one_line, report
from tierwise.sizing import fmt_bytes

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "model_profiles" / "catalogue" / "llama3-8b.yaml").read_text().replace("name: llama3-8b", "name: mine")


@pytest.fixture(autouse=True)
def fresh_catalogue():
    """Each case reads its own folder; a blocked read fails instead of hanging the suite."""
    def expired(*_: Any) -> None:
        raise TimeoutError("the catalogue blocked on a file: only regular files may be read")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(30)
    _catalogue.cache_clear()
    yield
    _catalogue.cache_clear()
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def one_error(capsys: pytest.CaptureFixture, argv: list[str], *expected: str) -> str:
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, (code, err[-2000:])
    assert out == "" and "Traceback" not in err and err.count("\n") == 1 and err.startswith("error: "), err[-2000:]
    assert len(err) <= LINE_MAX + len("error: \n"), len(err)
    for text in expected:
        assert text in err, (text, err)
    return err


def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str | bytes | None = None) -> Path:
    folder = tmp_path / "catalogue"
    folder.mkdir()
    if text is not None:
        target = folder / "mine.yaml"
        target.write_bytes(text) if isinstance(text, bytes) else target.write_text(text)
    monkeypatch.setenv("TIERWISE_CATALOGUE", str(folder))
    return folder


# --- only regular files, with a cap ----------------------------------------------------------------


def test_a_profile_that_is_a_fifo_does_not_hang_the_catalogue(tmp_path, monkeypatch, capsys):
    folder = catalogue(tmp_path, monkeypatch)
    os.mkfifo(folder / "mine.yaml")
    one_error(capsys, ["models"], "model profile", "mine.yaml is a FIFO (named pipe), not a regular file")


def test_a_profile_linked_to_dev_zero_is_refused_before_reading(tmp_path, monkeypatch, capsys):
    folder = catalogue(tmp_path, monkeypatch)
    os.symlink("/dev/zero", folder / "mine.yaml")
    one_error(capsys, ["models"], "mine.yaml is a character device, not a regular file")


def test_a_folder_or_a_symlink_loop_named_like_a_profile(tmp_path, monkeypatch, capsys):
    folder = catalogue(tmp_path, monkeypatch)
    (folder / "mine.yaml").mkdir()
    one_error(capsys, ["models"], "mine.yaml is a folder, not a regular file")
    (folder / "mine.yaml").rmdir()
    os.symlink("mine.yaml", folder / "mine.yaml")
    _catalogue.cache_clear()
    one_error(capsys, ["models"], "cannot read model profile", "Too many levels of symbolic links")


def test_a_profile_larger_than_its_cap(tmp_path, monkeypatch, capsys):
    folder = catalogue(tmp_path, monkeypatch)
    with open(folder / "mine.yaml", "wb") as fh:
        fh.truncate(PROFILE_MAX_BYTES + 1)
    largest = max(p.stat().st_size for p in (ROOT / "model_profiles" / "catalogue").glob("*.yaml"))
    assert largest * 100 < PROFILE_MAX_BYTES  # the cap holds every real profile with room to spare
    one_error(capsys, ["models"], f"is {PROFILE_MAX_BYTES + 1:,} bytes; at most {PROFILE_MAX_BYTES:,} are read")


# --- encodings and YAML ---------------------------------------------------------------------------


def test_a_latin_1_profile_is_named_not_a_traceback(tmp_path, monkeypatch, capsys):
    catalogue(tmp_path, monkeypatch, GOOD.replace("display_name: Meta Llama 3 8B Instruct", "display_name: Llama café").encode("latin-1"))
    one_error(capsys, ["models"], "mine.yaml is not UTF-8 text (byte 0xe9 on line 5); save it as UTF-8")


@pytest.mark.parametrize("text, expected", [
    (GOOD + "task: chat\n", f"mine.yaml: line {GOOD.count(chr(10)) + 1}: duplicate key 'task' (first at line 6); "
                             "each key may appear once"),
    (GOOD.replace("  layers: 32\n", "  layers: 32\n  layers: 40\n"), "duplicate key 'layers' (first at line 12)"),
    (GOOD.replace("architecture:\n", "architecture: &shape\n"), "YAML anchors and aliases (&name, *name) are not allowed"),
    (GOOD.replace("name: mine", "name: mine\nalias_bomb: [*x]"), "line 5: YAML anchors and aliases"),
    (GOOD.replace("parameters: 8030261248", "parameters: " + "8" * 5000), "an integer of 5,000 digits"),
], ids=["duplicate-top-level-key", "duplicate-nested-key", "anchor", "undefined-alias", "integer-5000-digits"])
def test_profile_yaml_that_would_be_read_silently_wrong(text, expected, tmp_path, monkeypatch, capsys):
    catalogue(tmp_path, monkeypatch, text)
    one_error(capsys, ["models"], expected)


# --- shapes no model has: refused before any arithmetic -------------------------------------------


@pytest.mark.parametrize("field", ["embedding_width", "attention_heads", "kv_heads", "head_dim", "ffn_width",
                                   "vocabulary", "parameters"])
def test_a_profile_dimension_of_ten_to_the_400(field, tmp_path, monkeypatch, capsys):
    """10**400 used to pass the schema and end as an OverflowError in the byte formatter."""
    lines = [line if not line.strip().startswith(f"{field}:") else line.split(":")[0] + ": 1" + "0" * 400
             for line in GOOD.splitlines()]
    catalogue(tmp_path, monkeypatch, "\n".join(lines) + "\n")
    one_error(capsys, ["size", "mine"], "field '", field, "Input should be less than or equal to",
              "(401 characters)")


def test_profile_and_gguf_header_share_one_plausible_range(tmp_path, monkeypatch, capsys):
    _, _, widest, _ = SHAPE_RANGES["embedding_width"]
    too_wide = GOOD.replace("embedding_width: 4096", f"embedding_width: {widest + 1}")
    catalogue(tmp_path, monkeypatch, too_wide)
    one_error(capsys, ["size", "mine"], f"less than or equal to {widest}")
    write_gguf(tmp_path / "wide.gguf", llama_header(**{"llama.embedding_length": widest + 1}))
    one_error(capsys, ["size", "--gguf", str(tmp_path / "wide.gguf")], f"from 1 to {widest:,}")


def test_the_byte_formatter_never_raises():
    assert fmt_bytes(10**400).endswith(" GiB") and "(391 characters)" in fmt_bytes(10**400)
    assert fmt_bytes(10**5000) in ("an integer of about 4,991 digits GiB", "an integer of about 4,992 digits GiB")
    assert fmt_bytes(5 * 2**30) == "5.00 GiB" and fmt_bytes(3 * 2**20) == "3.0 MiB"


# --- error lines of readable length ---------------------------------------------------------------


def test_a_hundred_thousand_character_model_name_is_cut(capsys):
    name = "m" * 100_000
    for argv in (["plan", name], ["size", name], ["compare", name]):
        one_error(capsys, argv, "unknown model 'mmmm", "'... (100,000 characters); known models: distilbert-sst2")


def test_a_hundred_thousand_character_context_key_or_model_in_the_cdk_app():
    for context in ({"m" * 100_000: "x", "model": "llama3-8b"}, {"model": "m" * 100_000}):
        with pytest.raises(UserError) as caught:
            read(context, environ={})
        message = str(caught.value)
        assert "\n" not in message and len(message) < 1_000 and "(100,000 characters)" in message, message[:300]


def test_values_are_cut_without_building_their_whole_text():
    assert shown(10**400) == "1" + "0" * 79 + "... (401 characters)"
    assert shown(-(16**5000)) == "-an integer of about 6,021 digits"  # str() of it would raise
    assert quoted("k" * 100_000) == repr("k" * 80) + "... (100,000 characters)"
    assert len(shown([list(range(10))] * 10**7)) <= 84  # reprlib: the first items, never 10**7 of them
    assert shown({"a": 10**9000}) == "a dict holding a huge integer"


def test_the_last_guard_cuts_any_message_to_one_readable_line(capsys):
    assert report(TierwiseError("head " + "x" * 2_000_000 + " tail\nsecond line")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and len(err) < LINE_MAX + 20 and "characters cut" in err and err.rstrip().endswith("second line")
    assert one_line("short\nmessage") == "short message"


def test_the_loaders_alone(tmp_path):
    class Refused(Exception):
        pass

    assert load_yaml("a: 1\nb: [2, 3]\n", "f", Refused) == {"a": 1, "b": [2, 3]}
    assert load_json('{"a": 1e400}', "f", Refused) == {"a": float("inf")}  # a float; bounds refuse it later
    for text, expected in (("a: 1\na: 2\n", "duplicate key 'a'"), ("a: &x 1\nb: *x\n", "anchors and aliases"),
                           ("[" * 2000 + "]" * 2000, "is not valid YAML"), ("!!python/object:os.system x", "constructor")):
        with pytest.raises(Refused, match=expected):
            load_yaml(text, "f", Refused)
    with pytest.raises(Refused, match="nests too deeply"):
        load_json("[" * 100_000, "f", Refused)

"""`tierwise profile --hf-dir DIR --name NAME`: a local Hugging Face folder written as a catalogue
profile, so `TIERWISE_CATALOGUE=folder tierwise plan NAME` and `cdk synth -c model=NAME` take it
like any catalogue model."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Optional

import typer

from model_profiles.hf_folder import check_name, read_folder, validated
from model_profiles.loader import load_profile_file
from model_profiles.writer import profile_yaml
from tierwise.errors import TierwiseError
from tierwise.help import Command
from tierwise.validate import check_writable_file, write_file


def register(app: typer.Typer) -> None:
    app.command("profile", cls=Command)(profile_command)


def profile_command(
    hf_dir: Path = typer.Option(..., "--hf-dir", help="a local Hugging Face model folder (or LoRA adapter folder)"),
    name: str = typer.Option(..., "--name", help="the profile's name: lower case letters, digits, dots, hyphens"),
    out: Optional[Path] = typer.Option(
        None, "--out", help="NAME.yaml, or a catalogue folder to write NAME.yaml into (default: print it)"),
    base_hf_dir: Optional[Path] = typer.Option(
        None, "--base-hf-dir", help="the base model's folder, for a LoRA adapter whose base is not a catalogue model"),
    hf_model_id: Optional[str] = typer.Option(
        None, "--hf-model-id", help="the Hub repository these weights are published as (org/name): the GPU tier's "
        "container downloads it from there"),
    force: bool = typer.Option(False, "--force", help="replace an existing file"),
) -> None:
    """Write a catalogue profile (YAML) for a local Hugging Face folder, with where each figure came from."""
    check_name(name)
    target = _target(out, name, force) if out is not None else None
    profile = read_folder(hf_dir, name=name, base_hf_dir=base_hf_dir)
    if hf_model_id is not None:
        if profile.adapter is not None:
            raise TierwiseError("--hf-model-id names a whole model on the Hub; a LoRA adapter is served on its base")
        profile = validated({**profile.model_dump(), "hf_model_id": hf_model_id}, "--hf-model-id")
    text = profile_yaml(profile)
    # the file is checked by the catalogue's own loader before it takes the target's place,
    # so a profile that would not load is never left behind
    with tempfile.TemporaryDirectory() as tmp:
        trial = Path(tmp) / f"{name}.yaml"
        trial.write_text(text, encoding="utf-8")
        reloaded = load_profile_file(trial)
    if reloaded != profile:
        raise TierwiseError(f"the profile written for {name} does not read back as the same profile")
    if target is None:
        sys.stdout.write(text)
        return
    write_file(target, text.encode("utf-8"), "--out")  # whole or not at all; a refused path is one line
    typer.echo(f"wrote {target}: {profile.parameters:,} parameters"
               + (f", {profile.active_parameters:,} active" if profile.active_parameters else "")
               + (f" (LoRA adapter on {profile.adapter.base_model})" if profile.adapter else ""), err=True)


def _target(out: Path, name: str, force: bool) -> Path:
    # a folder (existing, or a path with no .yaml suffix, made on write) gets NAME.yaml
    target = out / f"{name}.yaml" if out.is_dir() or not out.suffix else out
    if target.name != f"{name}.yaml":
        raise TierwiseError(f"--out: a catalogue file is named after its model, {name}.yaml (got {target.name!r}); "
                            "give that file name or a folder")
    check_writable_file(target, "--out")
    if target.exists() and not force:
        raise TierwiseError(f"--out: {target} exists; --force replaces it")
    return target

"""The README's commands, run as a user runs them: from the root of a fresh copy of the
repository, with its own cdk.json, in the order the pages show them, offline.

Every command in a ```sh block of README.md and of the docs pages it links for users runs in one
copy of the repository (tracked files only, modification times kept, so `make` finds the venv and
the CDK CLI up to date and installs nothing), with the venv activated, `COLUMNS=80`, no
`JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION` (the project's own entry points must silence
jsii) and no AWS credentials. It must exit 0, print nothing on stderr but the CDK CLI's own
summary lines, and no traceback or jsii banner anywhere;
the CLI's own output must keep to 80 columns. A `$ command` in a ```text block is run too, and
what it prints must match the lines under it (`…` stands for any text, alone on a line for any
lines; `# exits N` on the command line gives its exit status). A block whose first line is
`# FILE` is written to FILE first (the README asks the reader to save it).

What cannot run offline is listed in NOT_RUNNABLE with the reason, and the test that covers it
instead is read to hold that reason true. The one VPC lookup (docs/NETWORKING.md) is answered
the way the CDK CLI caches it: a cdk.context.json entry for that VPC, with the subnets the
commands name, written into the copy; CDK_DEFAULT_ACCOUNT stands in for the credentials the CLI
would read the account from.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.core.hf_folders import write_config
from tests.core.hf_published import PUBLISHED
from tests.core.raw_gguf import llama_header, write_gguf
from tests.gguf_factory import write_tiny_llama
from tests.stacks.conftest import ACCOUNT, vpc_lookup_context

pytestmark = pytest.mark.readme

ROOT = Path(__file__).resolve().parents[1]
# README.md, then the pages it links for users, in the order it links them
PAGES = ("README.md", "docs/NETWORKING.md", "docs/SERVING.md", "docs/HOW_IT_DECIDES.md", "docs/CONSTRUCTS.md",
         "docs/TESTING.md")
WIDTH = 80
REGION = "us-east-1"


@dataclass(frozen=True)
class Evidence:
    """Why a command cannot run here, and where a test runs it (or its closest offline form)."""

    why: str
    test_file: str
    holds: tuple[str, ...]  # text that test file must contain for `why` to be true


NOT_RUNNABLE = {
    "make test": Evidence(
        "it is the suite this test belongs to (CI's .ci/run calls it)", ".ci/run", ("make test",)),
    "npx cdk deploy -c model=llama3-8b": Evidence(
        "it needs an AWS account; moto cannot create the Bedrock inference profile llama3-8b is placed on, so "
        "the CLI deploys llama3-8b on the Lambda tier to a moto server instead",
        "tests/deploy/test_cdk_cli_on_moto.py", ('"deploy"', "llama3-8b", "bootstrap")),
    'tierwise chat tierwise-llama3-8b "Say hello in five words."': Evidence(
        "it needs a deployed stack and AWS credentials; the command runs against moto's SageMaker instead",
        "tests/client/test_client.py", ('main(["chat", "tierwise-llama3-8b"',)),
    "tierwise batch submit tierwise-nova-pro input.jsonl": Evidence(
        "it needs a deployed stack and AWS credentials; the command runs against moto's S3 and a Stubber for "
        "Bedrock's batch API instead", "tests/stacks/test_batch_cli.py", ('main(["batch", "submit", stack',)),
    "tierwise batch status tierwise-nova-pro JOB_ARN": Evidence(
        "it needs a batch job started on a real account (JOB_ARN is what submit printed); the command runs against "
        "a Stubber instead", "tests/stacks/test_batch_cli.py", ('main(["batch", "status", stack, JOB_ARN',)),
    'tierwise chat tierwise-llama3-8b "..." --no-stream --max-tokens 64 --system "Be brief." --region eu-west-1':
        Evidence("it needs a deployed stack and AWS credentials; the options run against moto instead",
                 "tests/client/test_client.py", ('"--no-stream"', '"--max-tokens"')),
}
# what the tests' files stand in for: the README asks the reader for a file of their own
PROVIDED = {
    "model.gguf": lambda path: write_tiny_llama(path, n_layers=2, n_embd=64, n_head=4, n_head_kv=2, n_ff=128,
                                                n_ctx_train=512, weight_type="Q8_0"),
    "broken.gguf": lambda path: write_gguf(path, llama_header(**{"llama.attention.head_count": 0})),
    # a fine-tune's folder: Qwen2.5-7B-Instruct's published config.json (no weights: sized from it)
    "my-finetune": lambda path: write_config(path, PUBLISHED["qwen2.5-7b-instruct"]["config"]),
}
# what the CDK CLI itself prints on stderr after a good synth: not a warning
CDK_CLI_LINES = (re.compile(r"Successfully synthesized to \S+"),
                 re.compile(r"Supply a stack id \(.*\) to display its template\."))
# a jsii end-of-life banner or a Python traceback (stderr must stay empty besides CDK_CLI_LINES)
NOISE = re.compile(r"end-of-life|^b'|Traceback", re.IGNORECASE | re.MULTILINE)


# -- reading the pages ---------------------------------------------------------------------------


@dataclass
class Command:
    page: str
    line: int
    text: str  # as shown, comment removed
    expected: list[str] | None = None  # the lines a `$` example shows under it
    exit_status: int = 0

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}: {self.text[:70]}"


@dataclass
class Page:
    commands: list[Command] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # written before the commands run
    python: list[str] = field(default_factory=list)


def without_comment(line: str) -> tuple[str, str]:
    """(command, comment): a `#` after whitespace and outside quotes starts the comment."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1:].strip()
    return line.rstrip(), ""


def read_page(name: str) -> Page:
    page = Page()
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        lang, start = fence.group(1), i + 1
        end = next(k for k in range(start, len(lines)) if lines[k].startswith("```"))
        block = lines[start:end]
        first = block[0] if block else ""
        saved = re.fullmatch(r"# ([\w./-]+\.\w+)", first)
        if saved:
            page.files[saved.group(1)] = "\n".join(block[1:]) + "\n"
        elif lang == "sh":
            pending: tuple[int, str] | None = None  # a command continued with a trailing backslash
            for k, raw in enumerate(block):
                text, _ = without_comment(raw)
                if pending is not None:
                    at, text = pending[0], pending[1] + " " + text
                else:
                    at = start + k + 1
                if text.endswith("\\"):
                    pending = (at, text[:-1])
                    continue
                pending = None
                if text:
                    page.commands.append(Command(name, at, " ".join(text.split())))
        elif lang == "text":
            page.commands += _examples(name, start, block)
        elif lang == "python":
            page.python.append("\n".join(block))
        i = end + 1
    return page


def _examples(name: str, start: int, block: list[str]) -> list[Command]:
    out: list[Command] = []
    for k, raw in enumerate(block):
        if raw.startswith("$ "):
            text, comment = without_comment(raw[2:])
            status = re.fullmatch(r"exits (\d+)", comment)
            out.append(Command(name, start + k + 1, " ".join(text.split()), [],
                               int(status.group(1)) if status else 0))
        elif out:
            out[-1].expected.append(raw)  # type: ignore[union-attr]
    return out


PAGE_CONTENT = {name: read_page(name) for name in PAGES}
COMMANDS = [c for page in PAGE_CONTENT.values() for c in page.commands]
RUNNABLE = [c for c in COMMANDS if c.text not in NOT_RUNNABLE]


def matches(expected: list[str], actual: list[str]) -> bool:
    """`actual` lines against `expected`: `…` within a line stands for any text, a line that
    is only `…` for any number of lines."""
    def line_ok(pattern: str, line: str) -> bool:
        return re.fullmatch(".*".join(re.escape(part) for part in pattern.split("…")), line.rstrip()) is not None

    def from_(e: int, a: int) -> bool:
        if e == len(expected):
            return a == len(actual)
        if expected[e].strip() == "…":
            return any(from_(e + 1, k) for k in range(a, len(actual) + 1))
        return a < len(actual) and line_ok(expected[e], actual[a]) and from_(e + 1, a + 1)

    return from_(0, 0)


# -- the fresh copy ------------------------------------------------------------------------------


def _tracked_files() -> list[str]:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


def _environment(copy: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "CDK_", "JSII_", "MAKE", "PYTEST", "VIRTUAL_ENV")) and k != "MFLAGS"}
    env.update(
        PATH=f"{copy / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '')}",  # what `source .venv/bin/activate` does
        VIRTUAL_ENV=str(copy / ".venv"),
        COLUMNS=str(WIDTH),
        CDK_DEFAULT_ACCOUNT=ACCOUNT,  # what the CDK CLI reads from the user's credentials
        AWS_EC2_METADATA_DISABLED="true",
        AWS_SHARED_CREDENTIALS_FILE=str(copy / "no-credentials"),
        AWS_CONFIG_FILE=str(copy / "no-config"),
    )
    return env


def _vpc_context(commands: list[Command]) -> dict:
    """The lookup cdk.context.json caches for every VPC the commands name, with the subnets they
    name among its private ones."""
    context: dict = {}
    for vpc_id in sorted({m for c in commands for m in re.findall(r"vpc_id=(vpc-[0-9a-f]+)", c.text)}):
        named = sorted({s for c in commands if vpc_id in c.text
                        for ids in re.findall(r"subnet_ids=(\S+)", c.text) for s in ids.split(",")})

        def subnets(kind: int, ids: list[str]) -> list[dict]:
            return [{"subnetId": sid, "cidr": f"10.0.{kind * 10 + i}.0/24", "availabilityZone": f"{REGION}{'abc'[i]}",
                     "routeTableId": f"rtb-0{kind}{i}{'0' * 14}"} for i, sid in enumerate(ids)]

        groups = {"Public": subnets(1, [f"subnet-01{i}{'0' * 14}" for i in range(2)]),
                  "Private": subnets(2, named or [f"subnet-02{i}{'0' * 14}" for i in range(2)]),
                  "Isolated": subnets(3, [f"subnet-03{i}{'0' * 14}" for i in range(2)])}
        context.update(vpc_lookup_context(vpc_id, groups))
    return context


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture(scope="session")
def ran(tmp_path_factory) -> dict[str, Ran]:
    """Every runnable command, run once, in page order, in one fresh copy of the repository."""
    if shutil.which("node") is None or not (ROOT / "node_modules" / ".bin" / "cdk").exists():
        pytest.fail("the README's commands need node and the pinned CDK CLI: run `make install` first")
    copy = tmp_path_factory.mktemp("fresh-clone")
    for name in _tracked_files():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, copy / name)  # keeps modification times: make sees nothing to rebuild
    for installed in (".venv", "node_modules"):
        (copy / installed).symlink_to(ROOT / installed)
    env = _environment(copy)
    if subprocess.run(["make", "-q", "install"], cwd=copy, env=env).returncode != 0:
        pytest.fail("`make install` is not up to date in this checkout: run it first (the test must not install)")
    for page in PAGE_CONTENT.values():
        for name, text in page.files.items():
            (copy / name).write_text(text, encoding="utf-8")
    for name, write in PROVIDED.items():
        write(copy / name)
    (copy / "cdk.context.json").write_text(json.dumps(_vpc_context(COMMANDS), indent=2))
    results = {}
    for command in RUNNABLE:
        if command.expected is not None:  # an example: what it prints, in order, as one stream
            done = subprocess.run(["bash", "-c", command.text], cwd=copy, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, timeout=600)
            results[command.id] = Ran(done.returncode, done.stdout, "")
        else:
            done = subprocess.run(["bash", "-c", command.text], cwd=copy, env=env, capture_output=True, text=True,
                                  timeout=900)
            results[command.id] = Ran(done.returncode, done.stdout, done.stderr)
    return results


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command", [c for c in RUNNABLE if c.expected is None], ids=lambda c: c.id)
def test_the_command_runs_as_written(ran, command):
    result = ran[command.id]
    assert result.code == 0, f"{command.id} exited {result.code}:\n{result.err[-3000:]}"
    noise = [line for line in result.err.splitlines()
             if line.strip() and not any(p.fullmatch(line.strip()) for p in CDK_CLI_LINES)]
    assert not noise, f"{command.id} printed on stderr:\n" + "\n".join(noise[:20])
    assert not NOISE.search(result.out), f"{command.id} printed: {NOISE.search(result.out).group(0)!r}"
    if command.text.startswith("tierwise ") and not re.search(r"--json|--format (json|markdown)", command.text):
        assert_fits(result.out, command.id)  # what a person reads; JSON and Markdown are for programs


@pytest.mark.parametrize("command", [c for c in RUNNABLE if c.expected is not None], ids=lambda c: c.id)
def test_the_example_prints_what_the_page_shows(ran, command):
    result = ran[command.id]
    assert result.code == command.exit_status, f"{command.id} exited {result.code}:\n{result.out[-2000:]}"
    assert matches(command.expected, result.out.splitlines()), (
        f"{command.id} printed:\n{result.out}\nthe page shows:\n" + "\n".join(command.expected))


def assert_fits(text: str, what: str) -> None:
    """No line over 80 columns but one word longer than the line alone on it (a URL, a price key):
    cutting it would break it."""
    long = [line for line in text.splitlines()
            if len(line) > WIDTH and not re.fullmatch(r"\s*(\[\d+\]\s+)?\S+", line)]
    assert not long, f"{what}: lines over {WIDTH} columns:\n" + "\n".join(long)


def test_the_pages_show_commands():
    assert len(RUNNABLE) >= 20, [c.id for c in COMMANDS]
    assert {c.page for c in COMMANDS} >= {"README.md", "docs/NETWORKING.md", "docs/TESTING.md"}


@pytest.mark.parametrize("command", sorted(NOT_RUNNABLE))
def test_a_command_not_run_here_is_run_elsewhere(command):
    """Each exception is a command a page shows, and the test named as running it instead does."""
    assert any(c.text == command for c in COMMANDS), f"no page shows {command!r} any more: drop it from NOT_RUNNABLE"
    evidence = NOT_RUNNABLE[command]
    text = (ROOT / evidence.test_file).read_text(encoding="utf-8")
    missing = [h for h in evidence.holds if h not in text]
    assert not missing, f"{evidence.test_file} no longer holds {missing}: {command!r} ({evidence.why})"


@pytest.mark.parametrize("name", PAGES)
def test_python_examples_compile(name):
    for code in PAGE_CONTENT[name].python:
        compile(code, name, "exec")


def test_the_matcher_reads_ellipses():
    assert matches(["a", "…", "c"], ["a", "b", "b", "c"])
    assert matches(["x … y"], ["x 1 2 y"])
    assert not matches(["a", "c"], ["a", "b", "c"])
    assert not matches(["a"], ["a", "b"])

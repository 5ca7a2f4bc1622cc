"""The README's commands are well-formed and its links lead somewhere: every `edgedepth VERB` and
`python -m runtime VERB` line in a shell block of README.md or docs/*.md names a verb whose `--help` exits 0 and
lists every `--flag` the line uses, every `make TARGET` names a Makefile target, and every relative markdown
link in those pages points to an existing file (and, with `#anchor`, to a heading of that file)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_BLOCKS = {"", "bash", "sh", "shell", "console"}
PYTHONS = {"python", "python3", sys.executable}
ENV_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


@dataclass(frozen=True)
class Command:
    page: str
    line: int
    text: str
    kind: str  # "cli" (a verb of `prog`) | "make" | "script"
    prog: str = ""  # "edgedepth" | "runtime" for kind "cli"
    verb: str = ""  # the verb, the make target or the script's path
    flags: tuple[str, ...] = field(default_factory=tuple)

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: {self.text}"


def _shell_lines(path: Path):
    """(line number, command) for each command in the page's shell blocks, continuation lines joined."""
    in_block, shell, pending, start = False, False, "", 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"^\s*```\s*([\w+-]*)", line)
        if fence:
            in_block, shell, pending = not in_block, fence.group(1).lower() in SHELL_BLOCKS, ""
            continue
        if not (in_block and shell):
            continue
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        text, pending = (pending + line).strip(), ""
        if text and not text.startswith("#"):
            yield start, text


def _flags(words: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(w.split("=", 1)[0] for w in words if re.match(r"^--[A-Za-z]", w)))


def _parse(page: str, number: int, text: str) -> Command | None:
    words = shlex.split(text, comments=True)
    while words and ENV_ASSIGNMENT.match(words[0]):
        words.pop(0)
    if not words:
        return None
    if words[0] == "torchrun" and "-m" in words:  # torchrun [its options] -m edgedepth VERB ...
        words = ["python", *words[words.index("-m"):]]
    if words[0] in PYTHONS and len(words) > 2 and words[1] == "-m" and words[2] in ("edgedepth", "runtime"):
        prog, rest = words[2], words[3:]
    elif words[0] == "edgedepth":
        prog, rest = "edgedepth", words[1:]
    elif words[0] == "make":
        targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w] or [""]
        args = next((w.split("=", 1)[1] for w in words[1:] if w.startswith("ARGS=")), "")
        return Command(page, number, text, "make", verb=targets[0], flags=_flags(shlex.split(args)))
    elif words[0] in PYTHONS and len(words) > 1 and words[1].endswith(".py"):
        return Command(page, number, text, "script", verb=words[1], flags=_flags(words[2:]))
    else:
        return None  # another tool's command (adb, scp, sh, pip, ...): not ours to check
    if not rest or rest[0].startswith("-"):
        return Command(page, number, text, "cli", prog=prog, verb="", flags=_flags(rest))
    return Command(page, number, text, "cli", prog=prog, verb=rest[0], flags=_flags(rest[1:]))


def _commands() -> list[Command]:
    found = []
    for path in PAGES:
        page = str(path.relative_to(ROOT))
        for number, text in _shell_lines(path):
            command = _parse(page, number, text)
            if command is not None:
                found.append(command)
    return found


COMMANDS = _commands()


@cache
def _help(prog: str, verb: str) -> tuple[int, str]:
    """`python -m PROG VERB --help`: exit code and output, once per verb."""
    argv = [sys.executable, "-m", prog, *([verb] if verb else []), "--help"]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    return done.returncode, done.stdout + done.stderr


@pytest.fixture(scope="module")
def helps():
    """Every verb's help, fetched side by side (each one that trains imports torch: a few seconds)."""
    verbs = sorted({(c.prog, c.verb) for c in COMMANDS if c.kind == "cli"})
    verbs += [("edgedepth", _make_verb(c.verb)) for c in COMMANDS if c.kind == "make" and _make_verb(c.verb)]
    with ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(lambda pv: _help(*pv), sorted(set(verbs))))
    return _help


@cache
def _make_targets() -> dict[str, str]:
    """Makefile target → its recipe."""
    targets: dict[str, str] = {}
    current = None
    for line in (ROOT / "Makefile").read_text(encoding="utf-8").splitlines():
        rule = re.match(r"^([A-Za-z0-9_.\-/$() ]+?)\s*:(?!=)", line)
        if rule and not line.startswith("\t"):
            current = [t for t in rule.group(1).split() if not t.startswith(".")]
            for target in current:
                targets.setdefault(target, "")
        elif line.startswith("\t") and current:
            for target in current:
                targets[target] += line.strip() + "\n"
        elif not line.strip():
            current = None
    return targets


def _make_verb(target: str) -> str:
    """The `edgedepth` verb a make target runs with $(ARGS), if any."""
    match = re.search(r"edgedepth\s+(\w+)\b.*\$\(ARGS\)", _make_targets().get(target, ""))
    return match.group(1) if match else ""


def _has_flag(help_text: str, flag: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", help_text) is not None


def test_the_readme_has_commands():
    readme = [c for c in COMMANDS if c.page == "README.md"]
    assert {"demo", "test"} <= {c.verb for c in readme if c.kind == "make"}
    assert {"edgedepth", "runtime"} <= {c.prog for c in readme if c.kind == "cli"}


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.kind == "cli"], ids=str)
def test_cli_command_is_well_formed(command, helps):
    assert command.verb, f"{command}: no verb"
    code, text = helps(command.prog, command.verb)
    assert code == 0, f"{command}: `{command.prog} {command.verb} --help` exited {code}:\n{text}"
    missing = [f for f in command.flags if not _has_flag(text, f)]
    assert not missing, f"{command}: {missing} not in `{command.prog} {command.verb} --help`"


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.kind == "make"], ids=str)
def test_make_command_names_a_target(command, helps):
    assert command.verb in _make_targets(), f"{command}: no target {command.verb!r} in the Makefile"
    if command.flags:
        verb = _make_verb(command.verb)
        assert verb, f"{command}: ARGS given, but `make {command.verb}` does not pass $(ARGS) to edgedepth"
        code, text = helps("edgedepth", verb)
        assert code == 0, text
        missing = [f for f in command.flags if not _has_flag(text, f)]
        assert not missing, f"{command}: {missing} not in `edgedepth {verb} --help`"


def test_script_commands_name_files():
    missing = [str(c) for c in COMMANDS if c.kind == "script" and not (ROOT / c.verb).is_file()]
    assert not missing, f"no such script: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, seen, in_block = set(), {}, False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            in_block = not in_block
        heading = None if in_block else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            slug = _slug(heading.group(1))
            anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
            seen[slug] = seen.get(slug, 0) + 1
    return anchors


def _links(path: Path):
    in_block = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            in_block = not in_block
            continue
        if in_block:
            continue
        for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", re.sub(r"`[^`]*`", "", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not checked
                yield number, target


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    broken = []
    for number, target in _links(page):
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{number}: {target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{number}: {target} (no heading #{anchor})")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)

"""The impact of a rule-base change: what changed in the rules, and what that does to the
decisions of the published patients, the literature cases and a generated cohort.

``rules_diff(old, new)`` compares two loaded rule bases; ``load_revision`` loads the
rule base of a git revision, so that a pull request can be compared with the last
release. A decision *changes* when the preferred option or an option's standing
(eligible, deferred, not eligible) differs; each change is shown with the arguments
and standings that moved.
"""

from __future__ import annotations

import importlib.resources
import multiprocessing
import os
import subprocess
import tarfile
import tempfile
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from typing import Any

import yaml

from sequencer.api import effective_profile, engine_for
from sequencer.decide.decision import decide, tally
from sequencer.errors import CaseFileError, UsageError
from sequencer.explain.cohort import Coverage, cohort_slice, coverage
from sequencer.explain.published import load_cases
from sequencer.knowledge.rulebook import Rulebook, load_rulebook
from sequencer.model.fields import flatten
from sequencer.model.parsing import parse_profile
from sequencer.model.profile import PatientProfile

__all__ = [
    "DecisionChange",
    "Impact",
    "RuleChange",
    "default_literature_file",
    "load_revision",
    "read_literature_cases",
    "rules_diff",
]

COVERAGE_SAMPLE = 10_000
"""The diff reports the new rule base's coverage over at most this many cohort patients."""

_ASPECTS = ("title", "status", "evidence", "when", "then", "rationale", "citations", "context")


@dataclass(frozen=True)
class RuleChange:
    """One rule added, removed or changed, and which of its parts changed."""

    rule: str
    kind: str  # added, removed, retired, changed
    parts: tuple[str, ...] = ()
    strength: tuple[str, str] | None = None  # (before, after) when an argument re-weighted


@dataclass(frozen=True)
class DecisionChange:
    """A patient whose recommendation changes, and why."""

    source: str  # published, literature, cohort
    patient: str
    context: str
    before: str
    after: str
    gained: tuple[str, ...]  # counted arguments and standings only the new base has
    lost: tuple[str, ...]


@dataclass
class Impact:
    """A rule-base change: its rule changes and the decisions it changes."""

    old: str
    new: str
    rules: list[RuleChange]
    evaluated: Counter[str] = field(default_factory=Counter)
    changes: list[DecisionChange] = field(default_factory=list)
    coverage: Coverage | None = None  # the new rule base's, over (a sample of) the cohort

    @property
    def changed(self) -> Counter[str]:
        """Changed decisions per source."""
        return Counter(c.source for c in self.changes)

    def directions(self) -> Counter[tuple[str, str]]:
        """How many decisions moved from which choice to which."""
        return Counter((c.before, c.after) for c in self.changes)


def default_literature_file() -> Path | None:
    """The literature cases shipped with the package (or the checkout's), if any."""
    shipped = importlib.resources.files("sequencer").joinpath("literature", "cases.yaml")
    if shipped.is_file():
        return Path(str(shipped))
    checkout = Path(__file__).resolve().parents[3] / "examples" / "literature" / "cases.yaml"
    return checkout if checkout.is_file() else None


def read_literature_cases(path: Path | None = None) -> list[dict[str, Any]]:
    """The literature cases of ``path`` (default: the shipped file; ``[]`` when there is
    none), as the raw mappings of its ``cases`` list.

    Raises ``CaseFileError`` when the file cannot be read or has no ``cases`` list.
    """
    path = path or default_literature_file()
    if path is None:
        return []
    try:
        cases = yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]
    except (OSError, KeyError, TypeError, yaml.YAMLError) as error:
        raise CaseFileError(f"{path}: not a literature case file ({error})") from None
    return list(cases)


def load_revision(revision: str, repo: Path, keep: list[Any]) -> Rulebook:
    """Load the ``rules/`` directory of git ``revision`` of ``repo``.

    The files are extracted into a temporary directory held in ``keep`` (the caller's
    list) for as long as the rule base is used. Raises ``UsageError`` when git cannot
    give the revision's rules.
    """

    def git(*args: str, cwd: Path) -> bytes:
        try:
            return subprocess.run(
                ["git", "-C", str(cwd), *args], capture_output=True, check=True, timeout=60
            ).stdout
        except subprocess.CalledProcessError as error:
            said = error.stderr.decode("utf-8", "replace").strip().splitlines()
            reason = said[-1] if said else f"git exited with status {error.returncode}"
        except (OSError, subprocess.SubprocessError) as error:
            reason = str(error)
        raise UsageError(f"cannot read the rules of git revision {revision!r}: {reason}")

    # the rules/ folder at the top of the checkout, from wherever in it this runs
    top = Path(git("rev-parse", "--show-toplevel", cwd=repo).decode().strip())
    archive = git("archive", "--format=tar", revision, "rules", cwd=top)
    folder = tempfile.TemporaryDirectory(prefix="sequencer-rules-")
    keep.append(folder)
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(folder.name, filter="data")
    return load_rulebook(Path(folder.name) / "rules")


def _rule_changes(old: Rulebook, new: Rulebook) -> list[RuleChange]:
    before = {r.rule.id: r.rule for r in old.rules}
    after = {r.rule.id: r.rule for r in new.rules}
    out: list[RuleChange] = []
    for rule_id in sorted(before.keys() | after.keys()):
        if rule_id not in before:
            out.append(RuleChange(rule_id, "added"))
        elif rule_id not in after:
            out.append(RuleChange(rule_id, "removed"))
        else:
            a, b = before[rule_id].model_dump(), after[rule_id].model_dump()
            parts = tuple(k for k in _ASPECTS if a.get(k) != b.get(k))
            if parts == ("status",) and b["status"] == "retired":
                out.append(RuleChange(rule_id, "retired"))
            elif parts:
                strengths = [
                    (x.get("strength"), y.get("strength"))
                    for x, y in zip(a["then"], b["then"], strict=False)
                    if "argues" in x and "argues" in y and x.get("strength") != y.get("strength")
                ]
                out.append(
                    RuleChange(
                        rule_id,
                        "changed",
                        parts,
                        (str(strengths[0][0]), str(strengths[0][1])) if strengths else None,
                    )
                )
    return out


@dataclass(frozen=True)
class _Outcome:
    """What ``recommend`` decides for one patient with one rule base: the context, the
    preferred option, every option's status and the arguments counted (from the fired
    rules, as ``sequencer.decide.ranking.rank`` takes them; the recommendation's text,
    citations and missing facts are not needed to compare decisions)."""

    context: str
    preferred: str | None
    status: tuple[tuple[str, str], ...]
    counted: frozenset[str]


def _outcome(book: Rulebook, patient: PatientProfile, context: str | None) -> _Outcome:
    parsed, ctx, _ = effective_profile(patient, rulebook=book, context=context)
    d = decide(book, tally(book, engine_for(book).fired(flatten(parsed), ctx.context)))
    return _Outcome(ctx.context, d.preferred, tuple(sorted(d.status.items())), d.counted)


def _choice(outcome: _Outcome) -> str:
    if outcome.preferred is not None:
        return outcome.preferred
    statuses = {status for _, status in outcome.status}
    if statuses == {"not_eligible"}:
        return "neither"
    if "alternative" in statuses:
        return "no-preference"
    return "not-now"


def _key(outcome: _Outcome) -> tuple[str, tuple[tuple[str, str], ...]]:
    return _choice(outcome), outcome.status


def _moved(old: _Outcome, new: _Outcome) -> tuple[tuple[str, ...], tuple[str, ...]]:
    def marks(outcome: _Outcome) -> set[str]:
        counted = {f"+{a}" for a in outcome.counted}
        standing = {f"{therapy} {status}" for therapy, status in outcome.status}
        return counted | standing

    a, b = marks(old), marks(new)
    return tuple(sorted(b - a)), tuple(sorted(a - b))


def _compare(
    impact: Impact,
    old: Rulebook,
    new: Rulebook,
    source: str,
    patient: PatientProfile,
    context: str | None,
) -> None:
    before = _outcome(old, patient, context)
    after = _outcome(new, patient, context)
    impact.evaluated[source] += 1
    if _key(before) != _key(after):
        gained, lost = _moved(before, after)
        impact.changes.append(
            DecisionChange(
                source,
                patient.id,
                after.context,
                _choice(before),
                _choice(after),
                gained,
                lost,
            )
        )


_PARTS_PER_WORKER = 8
"""How many parts of the cohort each worker compares (progress is told after each)."""

_FORKED: dict[str, Any] = {}
"""What a forked worker compares (set just before the workers are forked, so that the
rule bases are inherited rather than pickled)."""


def _forked_part(indices: range) -> tuple[int, list[DecisionChange]]:
    """Compare the cohort patients of ``indices`` in a forked worker."""
    w = _FORKED
    return _cohort_part(w["old"], w["new"], indices, w["seed"], w["context"])


def _cohort_part(
    old: Rulebook, new: Rulebook, indices: range, seed: int, context: str | None
) -> tuple[int, list[DecisionChange]]:
    """Compare the cohort patients of ``indices``."""
    part = Impact(old="", new="", rules=[])
    for patient in cohort_slice(new, indices, seed, also=(old,)):
        _compare(part, old, new, "cohort", patient, context)
    return part.evaluated["cohort"], part.changes


def rules_diff(
    old: Rulebook,
    new: Rulebook,
    *,
    size: int = 10_000,
    seed: int = 2020,
    context: str | None = None,
    literature: Path | None = None,
    processes: int = 1,
    progress: Callable[[int], None] | None = None,
) -> Impact:
    """Return what changed from ``old`` to ``new`` and which decisions it changes.

    The published patients are replayed in their own context and in ``context`` (the
    new rule base's default unless named), the literature cases (``literature``,
    default: the shipped file) and a cohort of ``size`` patients drawn from both rule
    bases' values (``seed``) in ``context``, over ``processes`` worker processes (0:
    one per CPU); ``progress``, if given, is called with the number of cohort patients
    compared so far. Raises ``UnknownContextError`` when a rule base lacks the context,
    ``CaseFileError`` for an unreadable literature file and ``UsageError`` for a
    negative number of processes.
    """
    if processes < 0:
        raise UsageError("processes must be 0 (one per CPU) or more")
    impact = Impact(
        old=f"{old.name} {old.version} {old.digest[:19]}",
        new=f"{new.name} {new.version} {new.digest[:19]}",
        rules=_rule_changes(old, new),
    )
    for case in load_cases():
        _compare(impact, old, new, "published", case.profile, case.context)
        _compare(impact, old, new, "published", case.profile, context)
    for reported in read_literature_cases(literature):
        _compare(impact, old, new, "literature", parse_profile(reported["profile"]), context)
    workers = (os.cpu_count() or 1) if processes == 0 else processes
    # Parts of the cohort, a few per worker, compared in order (progress after each).
    step = max(1, -(-size // (max(workers, 1) * _PARTS_PER_WORKER)))
    parts = [range(start, min(start + step, size)) for start in range(0, size, step)]
    results: list[tuple[int, list[DecisionChange]]] = []
    if workers <= 1 or size < 2 * workers:
        for part in parts:
            results.append(_cohort_part(old, new, part, seed, context))
            if progress is not None:
                progress(part.stop)
    else:
        engine_for(old), engine_for(new)  # register both rulesets before forking
        fork = multiprocessing.get_context("fork")
        _FORKED.update(old=old, new=new, seed=seed, context=context)
        try:
            with ProcessPoolExecutor(max_workers=workers, mp_context=fork) as pool:
                for part, result in zip(parts, pool.map(_forked_part, parts), strict=True):
                    results.append(result)
                    if progress is not None:
                        progress(part.stop)
        finally:
            _FORKED.clear()
    evaluated = sum(n for n, _ in results)
    changes = [c for _, found in results for c in found]
    impact.evaluated["cohort"] += evaluated
    impact.changes.extend(changes)
    sample = cohort_slice(new, range(min(size, COVERAGE_SAMPLE)), seed, also=(old,))
    impact.coverage = coverage(new, sample, context)
    return impact

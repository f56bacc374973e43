"""Every public BPMN file of the shared corpus (../shared/corpus/bpmn, beside the repository)
deployed to a real broker: each deploys, or is refused with problems that each name the
resource and a line (and the element where there is one). Nothing crashes the parser or the
broker. The outcome counts are printed (run with -s to see them)."""

from __future__ import annotations

import collections
import re
from pathlib import Path

import pytest
from propolis.bpmn.errors import BpmnParseError
from propolis.bpmn.parser import parse_bpmn

from propolis.records import RejectionType
from tests.broker import models
from tests.broker.harness import BrokerHarness

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "bpmn"
FILES = sorted(p for p in CORPUS.rglob("*") if p.is_file()) if CORPUS.is_dir() else []

pytestmark = pytest.mark.skipif(not FILES, reason=f"the shared BPMN corpus is not at {CORPUS}")

# "<resource> line <n>: [element '<id>' (<type>): ]<what>" as BpmnParseError words each problem.
LOCATED = re.compile(r"^- .+ line \d+: (element '[^']+' \([^)]+\): )?\S")


def test_every_corpus_file_deploys_or_is_refused_with_located_problems(tmp_path):
    broker = BrokerHarness(tmp_path / "data").start()
    outcomes: collections.Counter[str] = collections.Counter()
    reasons: collections.Counter[str] = collections.Counter()
    try:
        for path in FILES:
            name = str(path.relative_to(CORPUS))
            response = broker.deploy((name, path.read_bytes()))
            if not response.rejected:
                outcomes["deployed"] += 1
                continue
            assert response.rejection_type == RejectionType.INVALID_ARGUMENT, (name, response.rejection_reason)
            # "'<resource>': - <problem>" for the first problem of a resource, "- <problem>" after.
            problems = [line.split(": ", 1)[1] if line.startswith("'") else line for line in response.rejection_reason.splitlines()[1:]]
            problems = [line for line in problems if line.startswith("- ")]
            assert problems, (name, response.rejection_reason)
            for problem in problems:
                assert LOCATED.match(problem), (name, problem)
                reasons[re.sub(r"'[^']*'", "'…'", problem.split(": ", 1)[-1].split(". ")[0])[:90]] += 1
            outcomes["refused"] += 1
        # The broker still serves after the whole corpus.
        broker.deploy(("after.bpmn", models.start_end("after-corpus")))
        assert broker.create("after-corpus").rejected is False
    finally:
        broker.close()
    print(f"\ncorpus: {len(FILES)} files: {dict(outcomes)}")
    for reason, count in reasons.most_common(15):
        print(f"  {count:3d}  {reason}")
    assert outcomes["deployed"] + outcomes["refused"] == len(FILES)


def test_the_parser_answers_every_corpus_file_with_a_model_or_a_parse_error():
    for path in FILES:
        try:
            parse_bpmn(path.read_bytes(), path.name)
        except BpmnParseError as error:
            assert all(p.line is not None for p in error.problems), path

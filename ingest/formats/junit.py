"""JUnit XML in all its dialects, streamed with lxml ``iterparse``.

Only ``end`` events are read; each ``<testcase>`` is turned into records and then cleared together
with its already-processed siblings, so memory stays flat however large the file is. Entities are
never resolved, DTDs never loaded, the network never touched, and any DOCTYPE is refused.

Identity (see the README's table): a testcase is ``classname::name`` (pytest: its node id). A
repeat of that id in one file is a rerun only where the tool really reran the test; everywhere
else it is a different test and gets told apart here (``_Identities``), before the store, which
turns a repeated id into attempts of one test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import BinaryIO

from lxml import etree

from ingest import records as R
from ingest.errors import MalformedReportError, UnsafeXMLError
from ingest.formats.values import MAX_DURATION_S, parse_seconds, parse_timestamp
from ingest.records import CaseRecord, ParsedReport, ReportMeta

FORMAT = "junit"
_SUITES = "testsuites"
_SUITE = "testsuite"
_CASE = "testcase"
# Result elements, worst first: a testcase with several keeps the worst.
_RANK = {"error": 3, "failure": 2, "skipped": 1}
_OUTCOME = {"error": R.ERROR, "failure": R.FAILED, "skipped": R.SKIPPED}
# Earlier attempts that Surefire/nextest/marathon record inside the final testcase.
_EARLIER = {"flakyFailure": R.FAILED, "rerunFailure": R.FAILED, "flakyError": R.ERROR, "rerunError": R.ERROR}
# ``status``/``result`` attribute values that mean "this test did not run", counted as skipped even
# without a <skipped/> child (junitparser reads only child elements and calls these passed). A test
# that never ran cannot have passed, and each tool's own summary calls them skipped/not run:
# - googletest ``status="notrun" result="suppressed"``: a DISABLED_ test, listed in the suite's own
#   ``disabled=`` count; googletest prints it as "YOU HAVE n DISABLED TESTS", never as passed.
# - googletest ``result="skipped"`` (with ``status="run"``): GTEST_SKIP(); older googletest writes no
#   <skipped/> child (the corpus's gtest-xml-output-unittest.xml), and its console prints "[  SKIPPED ]".
# - ``status="disabled"`` (tst writes ``status='disabled'``), ``"skipped"``, ``"skip"``, ``"ignored"``,
#   ``"pending"`` (other reporters, hand-made files): the attribute itself says the test did not run.
_SKIP_STATUS = frozenset({"notrun", "disabled", "skipped", "skip", "ignored", "pending"})
_SKIP_RESULT = frozenset({"suppressed", "skipped"})
_FAIL_STATUS = {
    "failed": R.FAILED,
    "failure": R.FAILED,
    "fail": R.FAILED,
    "error": R.ERROR,
    "errored": R.ERROR,
}
_WRONG_ROOTS = {
    "failsafe-summary": "a Maven failsafe summary, not a test report (ingest the TEST-*.xml beside it)",
    "testrun": "an Eclipse JUnit <testrun> export, not JUnit XML",
    "test-suite": "an Allure/NUnit <test-suite> report, not JUnit XML",
    "suites": "a <suites> document, not JUnit XML",
    "test-run": "an NUnit 3 <test-run> report, not JUnit XML (convert it to JUnit first)",
    "assemblies": "an xUnit.net v2 <assemblies> report, not JUnit XML (convert it to JUnit first)",
}
# nextest's stress runs (``--stress-count``) write each iteration as a suite named ``<binary>@stress-<n>``:
# the same tests run again on purpose, so there a repeated id is another attempt of the same test.
_STRESS_SUITE = re.compile(r"@stress-\d+$")
# Playwright's <testsuites> carries exactly these attributes ("id" always, often empty); each of its
# <testsuite> elements is one file in one project, the project's name in ``hostname``.
_PLAYWRIGHT_ROOT = frozenset({"id", "name", "tests", "failures", "skipped", "errors", "time"})
# A suite named after a source file (jest-junit's suiteNameTemplate "{filepath}"): a relative path with
# a directory and an extension, no spaces.
_FILE_PATH = re.compile(r"^[\w.@+-]*(?:[/\\][\w.@+-]+)+\.\w+$")
MAX_WARNING_EXAMPLE = 200
_EVENT_TAGS = ("{*}testcase", "{*}testsuite", "{*}properties", "{*}time", "{*}tests")
MAX_PROPERTIES = 50
MAX_HOSTNAMES = 20
MAX_PROPERTY_VALUE = 200
MAX_MESSAGE_LINE = 1000


_new_record = tuple.__new__
# _case builds records positionally; fail at import, not with shifted data, if the layout changes.
if CaseRecord._fields != (
    "nodeid", "outcome", "name", "classname", "file", "duration_s", "setup_s", "call_s", "teardown_s",
    "order_index", "worker_id", "start", "stop", "message", "details", "attempt", "final", "markers", "extra",
):
    raise ImportError("ingest.formats.junit: CaseRecord's fields changed; update _case")


def _local(tag) -> str:
    if not isinstance(tag, str):  # comments / processing instructions
        return ""
    return tag.rsplit("}", 1)[-1] if tag[:1] == "{" else tag


def parse(source_name: str, fh: BinaryIO) -> ParsedReport:
    """Return a streaming ParsedReport of the JUnit XML in ``fh``."""
    late: dict = {}
    report = ParsedReport(ReportMeta(format=FORMAT, source=source_name), iter(()), late)
    report.cases = _JUnitReader(source_name, fh, late).cases()
    return report


class _JUnitReader:
    """Walks one JUnit document; yields records and fills ``late`` with report-level facts."""

    def __init__(self, source: str, fh: BinaryIO, late: dict):
        self.source = source
        self.fh = fh
        self.late = late
        self.root = None
        self.pytest_root = False
        self.properties: dict = {}
        self.starts: list = []
        self.suite_seconds: list[float] = []
        # Every top-level suite's hostname, in order (Playwright writes its project names there).
        self.hostnames: list[str] = []
        self.claimed = 0
        # Per-suite counter for testcases without any name, so each stays its own test.
        self.unnamed = 0
        self.parent = None
        self.suite_name: str | None = None
        # The current suite's part of a testcase's identity: (name, file, hostname).
        self.suite_context: tuple = (None, None, None)
        self.stress = False
        self.suite_is_file = False
        self.playwright_root = False
        self.identities = _Identities()
        # (classname, file, is_pytest) -> node id prefix; classnames repeat, so map each once.
        self.prefixes: dict[tuple, str] = {}

    def cases(self) -> Iterator[CaseRecord]:
        pending: CaseRecord | None = None
        # Only the elements we act on reach Python; the tag filter runs in C.
        parser = etree.iterparse(
            self.fh,
            events=("end",),
            tag=_EVENT_TAGS,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            remove_comments=True,
            remove_pis=True,
            huge_tree=False,
            recover=False,
        )
        # Qualified tag -> local name; a document uses one or two spellings, so map each once.
        locals_: dict = {}
        try:
            for _event, elem in parser:
                if self.root is None:
                    self._check_root(elem)
                qualified = elem.tag
                tag = locals_.get(qualified)
                if tag is None:
                    tag = locals_[qualified] = _local(qualified)
                if tag == _CASE:
                    record = self._case(elem)
                    if record.__class__ is list:
                        if pending is not None:
                            yield pending
                            pending = None
                        yield from record
                    elif self.pytest_root or record.nodeid.endswith(".py") or ".py::" in record.nodeid:
                        # pytest-rerunfailures writes the failed attempt without any result element;
                        # an attempt directly followed by the same test again was a rerun, so it failed.
                        if pending is not None:
                            if pending.nodeid == record.nodeid and pending.outcome == R.PASSED:
                                pending = pending._replace(outcome=R.FAILED, message="failed, then rerun")
                            yield pending
                        pending = record
                    else:
                        if pending is not None:
                            yield pending
                            pending = None
                        yield record
                    _discard(elem)
                elif tag == _SUITE:
                    self._suite_end(elem)
                    _discard(elem)
                elif tag == "properties":
                    parent = elem.getparent()
                    if parent is not None and _local(parent.tag) in (_SUITE, _SUITES):
                        self._keep_properties(elem)
                        _discard(elem)
                elif tag in ("time", "tests") and len(elem) == 0:
                    # Ant's odd shape: <time>0.378</time> as a child element, not an attribute.
                    parent = elem.getparent()
                    if (
                        parent is not None
                        and _local(parent.tag) in (_SUITE, _CASE)
                        and tag not in parent.attrib
                    ):
                        parent.set(tag, (elem.text or "").strip())
        except etree.XMLSyntaxError as exc:
            line, column = exc.position if exc.position else (0, 0)
            reason = _syntax_reason(exc)
            last = exc.error_log.last_error if exc.error_log else None
            if not line and last is not None:  # lxml lost the position; libxml2's log has it
                line, column, reason = last.line, last.column, f"invalid XML: {last.message.strip()}"
            raise MalformedReportError(
                reason, source=self.source, line=line or None, column=column if line else None
            ) from None
        if pending is not None:
            yield pending
        if self.root is None:
            if parser.root is None:
                raise MalformedReportError("no XML root element", source=self.source)
            self._check_root(parser.root[0] if len(parser.root) else parser.root)
        if _local(self.root.tag) == _SUITES:
            self._root_facts(self.root)
        self._finish()

    def _check_root(self, elem) -> None:
        tree = elem.getroottree()
        docinfo = tree.docinfo
        if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
            raise UnsafeXMLError("DOCTYPE/ENTITY declarations are not allowed in reports", source=self.source)
        root = tree.getroot()
        name = _local(root.tag)
        if name not in (_SUITES, _SUITE):
            reason = _WRONG_ROOTS.get(name, "not a JUnit report")
            raise MalformedReportError(
                f"root element <{root.tag if isinstance(root.tag, str) else '?'}> is {reason}; "
                "expected <testsuites> or <testsuite>",
                source=self.source,
                line=root.sourceline,
            )
        self.root = root
        self.pytest_root = root.get("name") == "pytest tests" or (
            name == _SUITE and root.get("name") == "pytest"
        )
        self.playwright_root = (
            name == _SUITES and "id" in root.attrib and _PLAYWRIGHT_ROOT.issuperset(root.attrib)
        )

    # ---- testcases ------------------------------------------------------------------------

    def _case(self, elem) -> CaseRecord | list[CaseRecord]:
        """Return the record of one <testcase> (a list when it holds earlier attempts)."""
        # One C call for all attributes; dict lookups are then ~10x cheaper than lxml's .get().
        attrs = dict(elem.items())
        name = attrs.get("name") or ""
        classname = attrs.get("classname")
        if classname is None:
            classname = attrs.get("class")
        file = attrs.get("file")
        parent = elem.getparent()
        if parent is not self.parent:  # testcases come in runs under one suite: look it up once
            self._enter_suite(parent)
        suite_name = self.suite_name
        pytest = self.pytest_root or suite_name == "pytest" or _pytest_file(classname, file)
        key = (classname, file, pytest)
        prefix = self.prefixes.get(key)
        if prefix is None:
            prefix = self.prefixes[key] = _prefix(classname, file, pytest)
        if prefix:
            nodeid = (prefix + name if pytest else prefix + name.strip()) if name else prefix[:-2]
        elif pytest:
            nodeid = pytest_nodeid(classname, name, file)
        else:
            nodeid = name.strip()
            if not nodeid:
                self.unnamed += 1
                nodeid = f"{suite_name or 'unnamed'}::#{self.unnamed}"
            elif suite_name and suite_name.strip():
                # No classname (jest-junit with an empty classNameTemplate, TAP, bazel, tst): the suite,
                # usually the file, stands in for it, as Jenkins shows it. The name alone is no identity:
                # same-named tests sit in different files.
                nodeid = f"{suite_name.strip()}::{nodeid}"
        if not pytest and not self.stress and not nodeid.endswith(".py") and ".py::" not in nodeid:
            nodeid = self._identity(nodeid, name, classname, file)
        seconds = attrs.get("time") or attrs.get("duration")
        try:
            duration = float(seconds) if seconds is not None else None
            # Plain float() is trusted within the shared bound (a week); beyond it parse_seconds decides:
            # nanoseconds in disguise are converted, an absurd, NaN or negative time becomes unknown.
            if duration is not None and not 0 <= duration <= MAX_DURATION_S:
                duration = parse_seconds(seconds)
        except ValueError:
            duration = parse_seconds(seconds)
        start = stop = None
        stamp = attrs.get("timestamp")
        if stamp:
            started = parse_timestamp(stamp)
            if started is not None:
                start = started.timestamp()
                stop = start + (duration or 0.0)
        outcome = R.PASSED
        message = details = extra = None
        earlier = None
        if len(elem):
            rank = 0
            for child in elem:
                tag = _local(child.tag)
                if tag in _RANK:
                    if _RANK[tag] > rank:
                        rank = _RANK[tag]
                        outcome = _OUTCOME[tag]
                        if tag == "skipped" and (child.get("type") or "").endswith("xfail"):
                            outcome = R.XFAILED
                        message, details = _texts(child)
                elif tag in _EARLIER:
                    earlier = earlier or []
                    earlier.append((_EARLIER[tag], *_texts(child)))
                elif tag == "properties":
                    props = _properties(child)
                    if props:
                        extra = {"properties": props}
        if outcome == R.PASSED and ("status" in attrs or "result" in attrs):
            status = (attrs.get("status") or attrs.get("result") or "").lower()
            if status in _SKIP_STATUS or (attrs.get("result") or "").lower() in _SKIP_RESULT:
                outcome = R.SKIPPED  # see _SKIP_STATUS for why each counts as skipped
            elif status in _FAIL_STATUS:
                outcome = _FAIL_STATUS[status]
        classname = classname or None
        # The NamedTuple's positional layout, built in C: this runs once per testcase.
        record = _new_record(CaseRecord, (
            nodeid, outcome, name, classname, file, duration, None, None, None, 0, None,
            start, stop, message, details, 1, True, (), extra,
        ))
        if earlier is None:
            return record
        return [
            CaseRecord(nodeid, kind, name, classname, file, message=msg, details=text, final=False)
            for kind, msg, text in earlier
        ] + [record]

    def _identity(self, nodeid: str, name: str, classname: str | None, file: str | None) -> str:
        """Return the id of a non-pytest testcase: a Playwright project variant, told apart from repeats.

        pytest node ids are unique within a session and nextest stress suites repeat on purpose,
        so there a repeated id is a rerun; the caller never sends those here. Nor does Playwright
        (see below) need telling apart: its repeats are runs of one test.
        """
        suite_name, suite_file, host = self.suite_context
        if self.playwright_root and classname == suite_name:
            # One test file run in several projects (chromium, firefox, webkit): one test per project.
            # A project prefix already in the name (includeProjectInTestName) needs no variant.
            # Playwright refuses two tests with one title in a file, so a title repeated within one
            # project is --repeat-each running the same test again: attempts, like nextest's stress.
            if host and not name.startswith(f"[{host}] "):
                return f"{nodeid}[{host}]"
            return nodeid
        if self.suite_is_file and classname and suite_name.strip() not in nodeid:
            # jest-junit names each suite after its file and the classname after the describe block:
            # the same describe+title in two files is two tests, whichever file the report lists first.
            nodeid = f"{nodeid}[{suite_name.strip()}]"
        context = self.suite_context if not file or file == suite_file else (suite_name, file, host)
        return self.identities.resolve(nodeid, context)

    # ---- suites and report-level facts ----------------------------------------------------

    def _enter_suite(self, parent) -> None:
        """Remember what of the enclosing suite goes into its testcases' identities."""
        self.parent = parent
        if parent is None:
            self.suite_name = None
            self.suite_context = (None, None, None)
            self.stress = False
            self.suite_is_file = False
            return
        name = parent.get("name")
        self.suite_name = name
        self.suite_context = (name, parent.get("file"), (parent.get("hostname") or "").strip() or None)
        self.stress = bool(name) and _STRESS_SUITE.search(name) is not None
        self.suite_is_file = bool(name) and _FILE_PATH.match(name.strip()) is not None

    def _suite_end(self, elem) -> None:
        parent = elem.getparent()
        top = parent is None or (parent is self.root and _local(parent.tag) == _SUITES)
        self.unnamed = 0
        if not top:
            return
        stamp = parse_timestamp(elem.get("timestamp"))
        if stamp is not None:
            self.starts.append(stamp)
        seconds = parse_seconds(elem.get("time"))
        if seconds is not None:
            self.suite_seconds.append(seconds)
        host = (elem.get("hostname") or "").strip()[:200]
        if host and host not in self.hostnames and len(self.hostnames) < MAX_HOSTNAMES:
            self.hostnames.append(host)
        tests = elem.get("tests")
        if tests and tests.isdigit():
            self.claimed += int(tests)

    def _root_facts(self, root) -> None:
        stamp = parse_timestamp(root.get("timestamp"))
        if stamp is not None:
            self.starts.append(stamp)
        seconds = parse_seconds(root.get("time"))
        if seconds is not None:
            # The aggregate's own time is the session's; the suites' times are parts of it.
            self.suite_seconds = [seconds]
        tests = root.get("tests")
        if tests and tests.isdigit():
            self.claimed = int(tests)

    def _keep_properties(self, elem) -> None:
        for key, value in _properties(elem).items():
            if len(self.properties) >= MAX_PROPERTIES:
                break
            self.properties.setdefault(key, value)

    def _finish(self) -> None:
        if self.starts:
            self.late["started_at"] = min(self.starts)
        if self.suite_seconds:
            self.late["duration_s"] = sum(self.suite_seconds)
        if self.hostnames:
            self.late["hostname"] = self.hostnames[0]
            self.late["hostnames"] = tuple(self.hostnames)
        if self.identities.repeats:
            self.late["warnings"] = (self.identities.warning(),)
        if self.properties:
            self.late["properties"] = self.properties
        self.late["claimed_tests"] = self.claimed


class _Identities:
    """Gives every non-rerun testcase of one file its own id, deterministically, in document order.

    The first testcase with an id keeps it. A later one in another suite (or file, or host) becomes
    the variant ``id[suite]``; a later one in the same place is a true repeat of the full name and
    becomes ``id#2``, ``id#3`` ... (counted, for the run's warning). Only hashes are kept, so a
    100,000-testcase file costs a few MB, not a copy of every id.
    """

    def __init__(self):
        self.first: dict[int, tuple] = {}  # hash(id) -> the context of its first testcase
        self.last_suffix: dict[int, int] = {}  # hash(id) -> the highest #n given to its repeats
        self.repeats = 0
        self.example: str | None = None

    def resolve(self, nodeid: str, context: tuple) -> str:
        key = hash(nodeid)
        first = self.first.get(key)
        if first is None:
            self.first[key] = context
            return nodeid
        # Where it differs from the first one: its suite's name, else its file, else its host.
        label = next((mine for mine, theirs in zip(context, first, strict=True) if mine and mine != theirs),
                     None)
        if label is not None:
            variant = f"{nodeid}[{label.strip()}]"
            if hash(variant) not in self.first:
                self.first[hash(variant)] = context
                return variant
            nodeid, key = variant, hash(variant)
        self.repeats += 1
        if self.example is None:
            self.example = nodeid[:MAX_WARNING_EXAMPLE]
        n = self.last_suffix.get(key, 1)
        while True:  # a test really named "x#2" must not be merged with the second "x"
            n += 1
            repeat = f"{nodeid}#{n}"
            if hash(repeat) not in self.first:
                break
        self.last_suffix[key] = n
        self.first[hash(repeat)] = context
        return repeat

    def warning(self) -> str:
        return (f"{self.repeats} testcase(s) repeat the full name of an earlier testcase in the same suite "
                f"(first: {self.example!r}); the tool did not rerun them, so each is kept as its own test "
                "with a #2, #3 … suffix")


def _discard(elem) -> None:
    """Free a processed element and the siblings before it (the iterparse memory idiom)."""
    elem.clear(keep_tail=False)
    parent = elem.getparent()
    if parent is not None:
        while elem.getprevious() is not None:
            del parent[0]


def _texts(elem) -> tuple[str | None, str | None]:
    """Return (message, details) of a result element: its message attribute and its text."""
    body = elem.text
    if len(elem):
        # Surefire nests <stackTrace> (and captured output) inside flakyFailure/rerunFailure.
        trace = next((c.text for c in elem if _local(c.tag) == "stackTrace" and c.text), None)
        body = trace or body
    body = body.strip("\n") if body and body.strip() else None
    message = elem.get("message")
    if message is not None:
        message = message.strip() or None
    if message is None and body:
        message = next((line.strip() for line in body.splitlines() if line.strip()), None)
    if message and len(message) > MAX_MESSAGE_LINE:
        message = message[:MAX_MESSAGE_LINE] + "…"
    return message, body


def _properties(elem) -> dict:
    """Return the small name -> value pairs of a <properties> element (big values are dropped)."""
    found: dict = {}
    for prop in elem:
        if _local(prop.tag) != "property":
            continue
        key = prop.get("name")
        value = prop.get("value")
        if value is None:
            value = (prop.text or "").strip()
        if key and len(key) <= 100 and len(value) <= MAX_PROPERTY_VALUE and len(found) < MAX_PROPERTIES:
            found.setdefault(key, value)
    return found


def _pytest_file(classname: str | None, file: str | None) -> bool:
    """Return True for pytest's xunit1 shape under a renamed suite: ``file`` is the classname's module."""
    if not file or not classname or not file.endswith(".py"):
        return False
    dotted = file[:-3].replace("\\", "/").replace("/", ".")
    return classname == dotted or classname.startswith(dotted + ".")


def _prefix(classname: str | None, file: str | None, pytest: bool) -> str:
    """Return what precedes the test name in its node id ("" when the name alone decides)."""
    if not classname:
        return ""
    if pytest:
        return pytest_nodeid(classname, "\0", file)[:-1]
    stripped = classname.strip()
    return stripped + "::" if stripped else ""


def pytest_nodeid(classname: str | None, name: str, file: str | None = None) -> str:
    """Map pytest's JUnit ``classname``/``name``/``file`` back to its node id.

    pytest writes ``tests.unit.test_cart.TestCart`` + ``test_add[x]`` for
    ``tests/unit/test_cart.py::TestCart::test_add[x]``: the module path dotted, then the classes.
    ``file`` (xunit1) names the module exactly; without it, trailing segments that start with an
    uppercase letter are taken as classes. A collection error has an empty classname and the
    dotted module as its name.
    """
    if not classname:
        if not name:
            return "(collection)"
        return name.replace(".", "/") + ".py" if "::" not in name and "[" not in name else name
    parts = classname.split(".")
    if "" in parts:  # not a dotted module path (mangled or hand-made); keep it verbatim
        return plain_nodeid(classname, name)
    if file:
        path = file.replace("\\", "/")
        module = path[:-3] if path.endswith(".py") else path
        dotted = module.replace("/", ".")
        if classname == dotted:
            return f"{path}::{name}"
        if classname.startswith(dotted + "."):
            return "::".join([path, *classname[len(dotted) + 1 :].split("."), name])
    split = len(parts)
    while split > 1 and parts[split - 1][:1].isupper():
        split -= 1
    return "::".join(["/".join(parts[:split]) + ".py", *parts[split:], name])


def plain_nodeid(classname: str | None, name: str) -> str:
    """Return the identity non-pytest tools get: ``classname::name`` (name alone without a class)."""
    classname = (classname or "").strip()
    name = name.strip()
    if classname and name:
        return f"{classname}::{name}"
    return name or classname


def _syntax_reason(exc: etree.XMLSyntaxError) -> str:
    msg = str(exc.msg or exc).strip()
    # libxml2 appends ", line N, column M"; the position is reported separately.
    cut = msg.rfind(", line ")
    if cut > 0:
        msg = msg[:cut]
    if "Unregistered error" in msg or not msg:
        msg = "unterminated section (the file is truncated or not well-formed)"
    return f"invalid XML: {msg}"

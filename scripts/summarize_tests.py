#!/usr/bin/env python3
"""Counts test cases from meson's logs and prints the closing line `N passed, N failed`.

    summarize_tests.py BUILD [BUILD ...] [name=ok|fail ...]

Every GoogleTest case counts once per build folder (meson's JUnit log lists them); a test
program that failed without reporting cases (a crash, a timeout) counts as one failure; extra
checks run by scripts/test.sh (the fuzzer) are passed as `name=ok|fail` arguments. With several
build folders (the suite against two LibTorch versions) failures name their folder.
"""
import json
import sys
import xml.etree.ElementTree as ET

builds = [a for a in sys.argv[1:] if "=" not in a]
extras = [a for a in sys.argv[1:] if "=" in a]
passed = failed = 0
failed_names = []
for build in builds:
    prefix = f"{build}: " if len(builds) > 1 else ""
    with_cases = set()
    try:
        root = ET.parse(f"{build}/meson-logs/testlog.junit.xml").getroot()
        for suite in root.iter("testsuite"):
            for case in suite.iter("testcase"):
                program = suite.get("name", "").split(".")[1] if "." in suite.get("name", "") else suite.get("name", "")
                with_cases.add(program.split(" / ")[-1] if " / " in program else program)
                if case.find("failure") is not None or case.find("error") is not None:
                    failed += 1
                    failed_names.append(f"{prefix}{suite.get('name')}.{case.get('name')}")
                elif case.find("skipped") is None:
                    passed += 1
    except (OSError, ET.ParseError):
        pass
    try:
        with open(f"{build}/meson-logs/testlog.json") as f:
            for line in f:
                t = json.loads(line)
                name = t["name"].split(" / ")[-1]
                if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL") and not any(name in w for w in with_cases if w):
                    failed += 1
                    failed_names.append(prefix + t["name"] + " (" + t["result"] + ")")
    except OSError:
        failed += 1
        failed_names.append(prefix + "meson test did not run")
for extra in extras:
    name, _, result = extra.partition("=")
    if result == "ok":
        passed += 1
    else:
        failed += 1
        failed_names.append(name)
for n in failed_names:
    print(f"FAILED: {n}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)

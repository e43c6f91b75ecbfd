#!/usr/bin/env python3
"""Prints each failed test in the TRX files given: its name, its message and the top of its stack.

CI shows only the tail of a run's output, and a failed end-to-end test's captured logs can fill all
of it; this summary goes last so the failure itself is always in view.
"""
import sys
import xml.etree.ElementTree as ET

NS = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}


def failures(path):
    root = ET.parse(path).getroot()
    for result in root.iterfind(".//t:UnitTestResult", NS):
        if result.get("outcome") in ("Passed", "NotExecuted", "Inconclusive"):
            continue
        message = result.findtext("t:Output/t:ErrorInfo/t:Message", default="", namespaces=NS).strip()
        stack = result.findtext("t:Output/t:ErrorInfo/t:StackTrace", default="", namespaces=NS).strip()
        yield result.get("testName"), result.get("outcome"), result.get("duration"), message, stack


for path in sys.argv[1:]:
    for name, outcome, duration, message, stack in failures(path):
        print(f"FAILED {name} ({outcome}, {duration})")
        for line in message.splitlines()[:40]:
            print(f"    {line}")
        for line in stack.splitlines()[:12]:
            print(f"    {line}")

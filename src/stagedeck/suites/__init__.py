"""Test suites: running them with live progress, recording results, JUnit in and reports out."""

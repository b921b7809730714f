"""`stagedeck run --junitxml`: a real pytest suite fails, and the file CI reads is valid
against Jenkins' JUnit schema, with timestamps, hostname, output, signature and suspect."""

from __future__ import annotations

import socket
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from stagedeck.cli.main import main

xmlschema = pytest.importorskip("xmlschema")
XSD = Path(__file__).resolve().parent / "data" / "junit-10.xsd"

SUITE = """
import json, os, sys

def test_orders_list():
    assert True

def test_checkout_charges_once():
    token = os.environ["API_TOKEN"]
    print(f"\\x1b[31mPOST /checkout Authorization: Bearer {token}\\x1b[0m \\x07")
    body = {"error": "payment declined", "request_id": "req-7f3a9c", "at": "2026-12-01T18:04:11Z"}
    raise AssertionError(f"POST /api/checkout -> 502 {json.dumps(body)} token={token}")

def test_refund():
    import pytest
    pytest.skip("refunds are off in staging")
"""


def write_recipe(tmp_path: Path) -> Path:
    (tmp_path / "test_shop.py").write_text(SUITE, encoding="utf-8")
    recipe = tmp_path / "stagedeck.toml"
    recipe.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "junit-shop"

        [secrets]
        api_token = "{{env.SHOP_API_TOKEN}}"

        [services.api]
        command = ["sleep", "600"]
        health = {{ command = ["true"] }}

        [suites.checkout]
        command = ["{sys.executable}", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "test_shop.py", "--junitxml={{junit}}"]
        cwd = "{tmp_path}"
        env = {{ API_TOKEN = "{{secret.api_token}}" }}
        """),
        encoding="utf-8",
    )
    return recipe


def test_run_junitxml_is_valid_and_carries_what_ci_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "shop-tok-3c1d9e8f7a"
    monkeypatch.setenv("SHOP_API_TOKEN", token)
    recipe = write_recipe(tmp_path)
    out = tmp_path / "ci" / "junit.xml"
    out.parent.mkdir()
    code = main(
        ["run", str(recipe), "checkout", "--junitxml", str(out), "--db", str(tmp_path / "s.db")]
    )
    assert code == 1  # a test failed
    capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    xmlschema.XMLSchema(str(XSD)).validate(str(out))  # raises with the reason if invalid
    assert token not in text
    root = ET.fromstring(text)
    (suite,) = root.iter("testsuite")
    assert suite.get("hostname") == socket.gethostname()
    assert suite.get("timestamp", "").startswith("20") and "T" in suite.get("timestamp", "")
    assert float(suite.get("time", "0")) > 0
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "1", "1")
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    signature = [v for k, v in props.items() if k.startswith("stagedeck.signature[")]
    assert len(signature) == 1 and signature[0]
    assert any("test_checkout_charges_once" in k for k in props)
    assert props["stagedeck.environment"] == "junit-shop"
    failure = next(suite.iter("failure"))
    assert "req-7f3a9c" in (failure.get("message") or "")
    system_out = suite.find("system-out")
    assert system_out is not None and "test_checkout_charges_once" in (system_out.text or "")
    assert "\x1b" not in text and "\x07" not in text


def test_report_junit_of_the_same_run_is_valid_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SHOP_API_TOKEN", "shop-tok-3c1d9e8f7a")
    recipe = write_recipe(tmp_path)
    db = str(tmp_path / "s.db")
    main(["run", str(recipe), "checkout", "--db", db])
    capsys.readouterr()
    report = tmp_path / "report.xml"
    assert (
        main(["report", "--env", "junit-shop", "--format", "junit", "-o", str(report), "--db", db])
        == 0
    )
    xmlschema.XMLSchema(str(XSD)).validate(str(report))

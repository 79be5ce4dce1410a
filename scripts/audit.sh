#!/usr/bin/env bash
# PIP_AUDIT overrides the pip-audit binary (default .venv/bin/pip-audit).
# Audit the pinned requirements for known vulnerabilities (pip-audit, PyPI's advisory database).
# Fails on any known-vulnerable pin. pip-audit needs the advisory database from the network; when
# it cannot reach it (CI without access, an index mirror without PyPI's JSON API) it reports every
# package as "could not be audited" and still exits 0, so this script reads its JSON report and
# says "skipped: no network" instead of passing silently, or failing a run that cannot know.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
report="$(mktemp)"
errors="$(mktemp)"
trap 'rm -f "$report" "$errors"' EXIT
status=0
"${PIP_AUDIT:-.venv/bin/pip-audit}" -r requirements.txt -r requirements-dev.txt --format json --progress-spinner off \
    >"$report" 2>"$errors" || status=$?
exec .venv/bin/python - "$report" "$errors" "$status" <<'PY'
import json
import sys

report_path, errors_path, status = sys.argv[1], sys.argv[2], int(sys.argv[3])
errors = open(errors_path).read()
try:
    report = json.load(open(report_path))
except ValueError:
    report = None
if report is None:
    unreachable = ("ConnectionError", "NameResolutionError", "Max retries", "Temporary failure")
    if any(marker in errors for marker in unreachable):
        print("pip-audit: skipped: no network (the vulnerability database is unreachable)")
        sys.exit(0)
    print(f"pip-audit failed (exit {status}):\n{errors}", file=sys.stderr)
    sys.exit(status or 1)
deps = report.get("dependencies", [])
skipped = [d for d in deps if d.get("skip_reason")]
audited = [d for d in deps if not d.get("skip_reason")]
vulnerable = [d for d in audited if d.get("vulns")]
if deps and not audited:
    print(f"pip-audit: skipped: no network ({len(skipped)} packages could not be audited: "
          f"{skipped[0]['skip_reason']})")
    sys.exit(0)
for dep in vulnerable:
    for vuln in dep["vulns"]:
        fixes = ", ".join(vuln.get("fix_versions", [])) or "no fix yet"
        print(f"VULNERABLE {dep['name']}=={dep['version']}: {vuln['id']} (fixed in {fixes})")
if skipped:
    print(f"pip-audit: {len(skipped)} packages could not be audited: "
          + ", ".join(f"{d['name']} ({d['skip_reason']})" for d in skipped))
print(f"pip-audit: {len(audited)} packages audited, {len(vulnerable)} with known vulnerabilities")
sys.exit(1 if vulnerable else 0)
PY

"""A policy file as the resolver reads it: every setting, defaults filled in, as served.

    python -m conflict_resolver.policy_file FILE

Prints the policy in FILE (YAML or JSON) as ``GET /v1/policy`` would serve it once published
(JSON, without the version number), so a diff against the policy in force shows only real
changes (``dealreg policy diff`` runs it). Exit codes: 0 valid, 1 invalid (the errors, as
JSON ``{"errors": [{"field", "message"}]}``), 2 unreadable.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml
from pydantic import ValidationError

from conflict_resolver.domain.policy import Policy


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m conflict_resolver.policy_file FILE", file=sys.stderr)
        return 2
    try:
        document = yaml.safe_load(Path(args[0]).read_text())
    except (OSError, yaml.YAMLError) as error:
        print(f"cannot read {args[0]}: {error}", file=sys.stderr)
        return 2
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        errors = [
            {"field": ".".join(str(part) for part in item["loc"]), "message": item["msg"]}
            for item in error.errors()
        ]
        print(json.dumps({"errors": errors}))
        return 1
    print(json.dumps(policy.document()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

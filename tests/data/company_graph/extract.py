"""How company_graph_spellings.json was made (run by hand, once; not part of the suite).

    python -m venv /tmp/cg && /tmp/cg/bin/pip install company-graph==0.5.3
    /tmp/cg/bin/pip install networkx  # the graph is a pickled networkx DiGraph
    /tmp/cg/bin/python tests/data/company_graph/extract.py \
        /tmp/cg/lib/python3.*/site-packages/company_graph/data/graph.pkl

The package's graph maps employer names as people typed them (lower-cased, punctuation and a
few words such as "inc", "group", "systems" stripped by the package's own preprocessor) to
company ids, with redirects between ids; a name's organisation is the id its redirects lead
to (the package's ``CompanyGraph.id2id``). We keep organisations with two or more names and
sample 2,000 of them (seed 17).
"""

from __future__ import annotations

import json
import pickle
import random
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

SEED = 17
ORGANISATIONS = 2_000
OUT = Path(__file__).with_name("company_graph_spellings.json")


def main() -> None:
    graph: Any = pickle.loads(Path(sys.argv[1]).read_bytes())  # noqa: S301 - a known file

    def resolved(node: int, depth: int = 0) -> int:
        routes = graph[node] if graph.has_node(node) else {}
        if not routes or depth > 50:
            return node
        best = max(routes.items(), key=lambda route: route[1].get("g", 0))
        if graph.nodes[node].get("g", 0) >= best[1].get("g", 0):
            return node
        return resolved(best[0], depth + 1)

    names: defaultdict[int, set[str]] = defaultdict(set)
    for node in graph.nodes:
        if isinstance(node, str):
            for company in graph[node]:
                names[resolved(company)].add(node)
    several = sorted(company for company, spellings in names.items() if len(spellings) >= 2)
    chosen = random.Random(SEED).sample(several, ORGANISATIONS)
    spellings = {str(company): sorted(names[company]) for company in sorted(chosen)}
    OUT.write_text(json.dumps(spellings, ensure_ascii=False, indent=0) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

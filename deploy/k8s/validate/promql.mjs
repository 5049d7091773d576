// Parses PromQL expressions with the Prometheus project's own grammar (@prometheus-io/lezer-promql)
// and reports any that do not parse.
//   node promql.mjs expressions.json   (a JSON array of strings; exit 1 on any error)
import { readFileSync } from "node:fs";
import { parser } from "@prometheus-io/lezer-promql";

const expressions = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failures = 0;
for (const expr of expressions) {
  const errors = [];
  parser.parse(expr).iterate({
    enter(node) {
      if (node.type.isError) errors.push(node.from);
    },
  });
  if (errors.length) {
    failures += 1;
    console.log(`INVALID at ${errors[0]}: ${expr}`);
  } else {
    console.log(`valid: ${expr.replace(/\s+/g, " ")}`);
  }
}
process.exit(failures ? 1 : 0);

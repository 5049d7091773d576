// Parse an AsyncAPI document with the official parser; print every diagnostic of severity
// error or warning as JSON lines and exit 1 when there is any error.
// Usage: node validate_asyncapi.mjs docs/events/asyncapi.json
import { readFile } from "node:fs/promises";
import { resolve, dirname } from "node:path";
import { Parser, fromFile } from "@asyncapi/parser";

const path = resolve(process.argv[2]);
const parser = new Parser();
const { document, diagnostics } = await fromFile(parser, path).parse();
const severities = ["error", "warning", "info", "hint"];
let errors = 0;
for (const d of diagnostics) {
  const severity = severities[d.severity] ?? String(d.severity);
  if (severity === "error") errors += 1;
  if (severity === "error" || severity === "warning") {
    console.log(JSON.stringify({ severity, code: d.code, path: d.path.join("."), message: d.message }));
  }
}
console.log(JSON.stringify({ document: Boolean(document), errors }));
process.exit(errors === 0 && document ? 0 : 1);

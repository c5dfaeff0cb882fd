// Validates an AsyncAPI document with the official parser (@asyncapi/parser): the schema of
// the specification and its rules. Exits non-zero on any error-level diagnostic.
import { readFileSync } from "node:fs";
import { Parser } from "@asyncapi/parser";

const file = process.argv[2];
if (!file) {
  console.error("usage: node scripts/check-asyncapi.mjs <asyncapi.json>");
  process.exit(2);
}
const { document, diagnostics } = await new Parser().parse(readFileSync(file, "utf8"));
// Spectral severities: 0 error, 1 warning, 2 information, 3 hint.
const errors = diagnostics.filter((d) => d.severity === 0);
for (const d of diagnostics.filter((d) => d.severity <= 1)) {
  console.error(`${d.severity === 0 ? "error" : "warning"} ${d.code} at ${d.path.join(".")}: ${d.message}`);
}
if (!document || errors.length) {
  console.error(`check-asyncapi: ${file} is not a valid AsyncAPI document`);
  process.exit(1);
}
const messages = document.allMessages().length;
console.error(`check-asyncapi: ${file} is valid AsyncAPI ${document.version()} (${messages} messages)`);

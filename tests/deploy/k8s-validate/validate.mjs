// Validates Kubernetes manifests offline against the Kubernetes API schemas.
//
//   node validate.mjs FILE...    (multi-document YAML; exit 0 if every document is valid)
//
// Two checks per document, both generated from the Kubernetes OpenAPI specification (and the
// Prometheus Operator CRDs) by the npm packages kubernetes-models and
// @kubernetes-models/prometheus-operator:
//   1. JSON schema: types, required fields, enums, formats (quantities, int-or-string, ...),
//      with the packages' compiled validators (ajv);
//   2. unknown fields, at any depth, which the API schemas allow (a typo such as
//      `readinesProbe` is silently dropped by a cluster): each document becomes a TypeScript
//      object literal of the kind's interface, and tsc reports every excess property.
// A kind without a schema here fails: nothing is passed unchecked.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import ts from "typescript";

const here = dirname(fileURLToPath(import.meta.url));
const crdPackages = { "monitoring.coreos.com": "@kubernetes-models/prometheus-operator" };

function moduleFor(apiVersion, kind) {
  const slash = apiVersion.indexOf("/");
  const group = slash < 0 ? "" : apiVersion.slice(0, slash);
  if (crdPackages[group]) return `${crdPackages[group]}/${apiVersion}/${kind}`;
  if (group.includes(".") && !group.endsWith(".k8s.io")) return null;  // a CRD we lack
  return `kubernetes-models/${apiVersion}/${kind}`;
}

const docs = [];  // { where, apiVersion, kind, name, data, errors: [] }
for (const file of process.argv.slice(2)) {
  const parsed = parseAllDocuments(readFileSync(file, "utf8"));
  parsed.forEach((d, i) => {
    const where = `${file}#${i + 1}`;
    if (d.errors.length) {
      docs.push({ where, kind: "?", name: "?", errors: d.errors.map((e) => e.message) });
      return;
    }
    const data = d.toJS();
    if (data === null || data === undefined) return;  // empty document
    docs.push({ where, apiVersion: data.apiVersion, kind: data.kind,
                name: data.metadata?.name ?? "?", data, errors: [] });
  });
}

// 1. JSON schema.
for (const doc of docs) {
  if (doc.errors.length) continue;
  if (typeof doc.apiVersion !== "string" || typeof doc.kind !== "string") {
    doc.errors.push("apiVersion and kind are required");
    continue;
  }
  doc.module = moduleFor(doc.apiVersion, doc.kind);
  let Model;
  try {
    Model = doc.module && (await import(doc.module))[doc.kind];
  } catch {
    Model = undefined;
  }
  if (!Model) {
    doc.errors.push(`no schema for ${doc.apiVersion} ${doc.kind} (unknown kind or version)`);
    doc.module = null;
    continue;
  }
  try {
    new Model(doc.data).validate();
  } catch (e) {
    doc.errors.push(...String(e.message).split(", ").map((m) => "schema: " + m));
  }
}

// 2. Unknown fields, through TypeScript's excess property checks.
const typed = docs.filter((d) => d.module);
if (typed.length) {
  const dir = mkdtempSync(join(here, ".strict-"));  // inside here: node_modules resolves
  try {
    const lines = [];
    const owner = [];  // line number -> doc
    typed.forEach((doc, i) => {
      lines.push(`import type { I${doc.kind} as T${i} } from "${doc.module}";`);
      owner.push(null);
    });
    typed.forEach((doc, i) => {
      for (const l of `const d${i}: T${i} = ${JSON.stringify(doc.data, null, 2)};`.split("\n")) {
        lines.push(l);
        owner.push(doc);
      }
    });
    const file = join(dir, "manifests.ts");
    writeFileSync(file, lines.join("\n") + "\n");
    const program = ts.createProgram([file], {
      strict: true, noEmit: true, skipLibCheck: true, types: [],
      module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
    });
    for (const diag of ts.getPreEmitDiagnostics(program)) {
      const msg = ts.flattenDiagnosticMessageText(diag.messageText, " ");
      if (!diag.file || diag.file.fileName !== file) {
        throw new Error("validator setup: " + msg);
      }
      const { line } = diag.file.getLineAndCharacterOfPosition(diag.start);
      const doc = owner[line];
      if (!doc) throw new Error("validator setup: " + msg);
      // Types are checked by the schema too; report tsc's view of fields only once.
      doc.errors.push(`fields: ${msg} (at: ${lines[line].trim()})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

let bad = 0;
for (const doc of docs) {
  if (doc.errors.length) {
    bad++;
    console.log(`FAIL ${doc.where} ${doc.kind}/${doc.name}`);
    for (const e of doc.errors) console.log(`       ${e}`);
  } else {
    console.log(`ok   ${doc.where} ${doc.apiVersion} ${doc.kind}/${doc.name}`);
  }
}
console.log(`${docs.length - bad} valid, ${bad} invalid`);
process.exit(bad || docs.length === 0 ? 1 : 0);

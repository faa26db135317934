#!/usr/bin/env bash
# Extracts the operations crates/fake-github serves from GitHub's official OpenAPI description
# (npm package @octokit/openapi, installed by scripts/test-deps.sh) into
# crates/fake-github/openapi/subset.json. The subset is self-contained: parameter, request body,
# response and example references are inlined; schema references point into the subset's own
# `components.schemas`, which holds exactly the schemas they reach. Schema descriptions are
# dropped to keep it small. It also lists every `METHOD /path` of the full description (with its
# multi-segment parameters), so the fake can tell "not a GitHub route" from "a GitHub route the
# fake does not serve".
#
# Usage: scripts/vendor-github-openapi.sh [OUTPUT]   (default: crates/fake-github/openapi/subset.json)
# Env:   GITHUB_OPENAPI_JSON  the source file (default: the npm fixture's api.github.com.json)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="${GITHUB_OPENAPI_JSON:-$root/tests/fixtures/npm/node_modules/@octokit/openapi/generated/api.github.com.json}"
out="${1:-$root/crates/fake-github/openapi/subset.json}"
if [ ! -f "$src" ]; then
  echo "error: $src is missing; run scripts/test-deps.sh (installs @octokit/openapi)" >&2
  exit 1
fi
pkg="$(dirname "$(dirname "$src")")/package.json"
node - "$src" "$out" "$pkg" <<'JS'
const fs = require("fs");
const [src, out, pkgFile] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(src, "utf8"));
let version = "unknown";
try { version = JSON.parse(fs.readFileSync(pkgFile, "utf8")).version; } catch (_) {}

// The operations the fake serves: keep in sync with crates/fake-github/src/routes/.
const OPERATIONS = [
  ["get", "/repos/{owner}/{repo}"],
  ["get", "/repos/{owner}/{repo}/git/ref/{ref}"],
  ["post", "/repos/{owner}/{repo}/git/refs"],
  ["patch", "/repos/{owner}/{repo}/git/refs/{ref}"],
  ["delete", "/repos/{owner}/{repo}/git/refs/{ref}"],
  ["post", "/repos/{owner}/{repo}/git/trees"],
  ["post", "/repos/{owner}/{repo}/git/commits"],
  ["get", "/repos/{owner}/{repo}/git/commits/{commit_sha}"],
  ["get", "/repos/{owner}/{repo}/contents/{path}"],
  ["put", "/repos/{owner}/{repo}/contents/{path}"],
  ["get", "/repos/{owner}/{repo}/pulls"],
  ["post", "/repos/{owner}/{repo}/pulls"],
  ["get", "/repos/{owner}/{repo}/pulls/{pull_number}"],
  ["patch", "/repos/{owner}/{repo}/pulls/{pull_number}"],
  ["put", "/repos/{owner}/{repo}/pulls/{pull_number}/merge"],
  ["get", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["post", "/repos/{owner}/{repo}/issues/{issue_number}/comments"],
  ["patch", "/repos/{owner}/{repo}/issues/comments/{comment_id}"],
  ["post", "/repos/{owner}/{repo}/issues/{issue_number}/labels"],
  ["post", "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions"],
  ["post", "/repos/{owner}/{repo}/statuses/{sha}"],
  ["get", "/repos/{owner}/{repo}/commits/{ref}/status"],
  ["get", "/repos/{owner}/{repo}/collaborators/{username}/permission"],
  ["post", "/app/installations/{installation_id}/access_tokens"],
];

function lookup(ref) {
  if (!ref.startsWith("#/")) throw new Error(`external $ref ${ref}`);
  return ref.slice(2).split("/").reduce((o, k) => o[k.replace(/~1/g, "/").replace(/~0/g, "~")], spec);
}

const schemas = {};
const SCHEMA_PREFIX = "#/components/schemas/";

// Copies `node`, inlining every non-schema $ref, collecting reached schemas, and dropping
// documentation-only keys. `inProperties`: node is a `properties` map (its keys are names).
function copy(node, inProperties = false) {
  if (Array.isArray(node)) return node.map((n) => copy(n));
  if (node === null || typeof node !== "object") return node;
  if (typeof node.$ref === "string") {
    if (node.$ref.startsWith(SCHEMA_PREFIX)) {
      const name = node.$ref.slice(SCHEMA_PREFIX.length);
      if (!(name in schemas)) {
        schemas[name] = null; // reserve first: schemas can be recursive
        schemas[name] = copy(lookup(node.$ref));
      }
      return { $ref: node.$ref };
    }
    return copy(lookup(node.$ref));
  }
  const res = {};
  for (const [k, v] of Object.entries(node)) {
    if (!inProperties && ["description", "x-github", "x-octokit", "tags", "externalDocs"].includes(k) && typeof v !== "object") continue;
    if (!inProperties && ["x-github", "x-octokit", "externalDocs", "tags"].includes(k)) continue;
    res[k] = copy(v, k === "properties" && !inProperties);
  }
  return res;
}

const operations = {};
for (const [method, path] of OPERATIONS) {
  const op = spec.paths[path] && spec.paths[path][method];
  if (!op) throw new Error(`${method.toUpperCase()} ${path} is not in ${src}`);
  const entry = {
    operationId: op.operationId,
    summary: op.summary,
    documentation_url: op.externalDocs && op.externalDocs.url,
    parameters: copy(op.parameters || []),
  };
  if (op.requestBody) entry.requestBody = copy(op.requestBody);
  entry.responses = {};
  for (const [status, resp] of Object.entries(op.responses)) {
    const r = copy(resp);
    // Error responses share a handful of shapes; their examples add nothing.
    if (!status.startsWith("2") && r.content) {
      for (const media of Object.values(r.content)) delete media.examples;
    }
    entry.responses[status] = r;
  }
  operations[`${method.toUpperCase()} ${path}`] = entry;
}

// Every route of the full description → its parameters that may span several path segments.
const allRoutes = [];
for (const [path, item] of Object.entries(spec.paths)) {
  for (const method of ["get", "put", "post", "patch", "delete", "head", "options"]) {
    if (!item[method]) continue;
    const params = [...(item.parameters || []), ...(item[method].parameters || [])]
      .map((p) => (p.$ref ? lookup(p.$ref) : p))
      .filter((p) => p["x-multi-segment"])
      .map((p) => p.name);
    allRoutes.push([`${method.toUpperCase()} ${path}`, params]);
  }
}
allRoutes.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
const all = Object.fromEntries(allRoutes);

const sortedSchemas = {};
for (const k of Object.keys(schemas).sort()) sortedSchemas[k] = schemas[k];
const subset = {
  source: `@octokit/openapi ${version} generated/api.github.com.json`,
  generated_by: "scripts/vendor-github-openapi.sh",
  operations,
  all_operations: all,
  components: { schemas: sortedSchemas },
};
fs.writeFileSync(out, JSON.stringify(subset, null, 1) + "\n");
console.error(`wrote ${out}: ${Object.keys(operations).length} operations, ${Object.keys(sortedSchemas).length} schemas`);
JS

#!/usr/bin/env bash
# The Node 24 leg: the whole test suite again under Node 24 (from the npm registry's `node`
# package), with isolated-vm 7 (which ships Node 24 prebuilds), in a copy of the committed tree
# so the Node 20 install is never touched.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/wardwright-node24.XXXXXX")"
trap 'rm -rf "$work"' EXIT

echo "== Node 24 leg in $work"
npm install --prefix "$work/runtime" --no-save --no-package-lock --no-audit --no-fund node@24.21.0 >/dev/null
export PATH="$work/runtime/node_modules/.bin:$PATH"
echo "node $(node --version)"

mkdir "$work/tree"
git -C "$repo" archive HEAD | tar -x -C "$work/tree"
# `../shared` sits beside the repository in CI; keep it beside the copy too.
if [ -d "$repo/../shared" ]; then ln -s "$(cd "$repo/../shared" && pwd)" "$work/shared"; fi
cd "$work/tree"

# Install scripts would compile isolated-vm 5 (the Node 20 pin), which cannot build on Node 24;
# isolated-vm 7 then replaces it and loads its bundled prebuild at run time.
npm ci --ignore-scripts --no-audit --no-fund
npm install --no-save --ignore-scripts --no-audit --no-fund isolated-vm@7.0.1
rm -rf packages/sandbox-isolated-vm/node_modules/isolated-vm
node -e "require('isolated-vm'); console.log('isolated-vm', require('isolated-vm/package.json').version)"

# test/fresh-clone.test.ts runs a plain `npm install` (install scripts included) in a copy of the
# tree, which compiles the Node 20 pin of isolated-vm: that cannot build on Node 24, and this leg
# installs with --ignore-scripts for that reason. The Node 20 leg has run it already.
export WARDWRIGHT_SKIP_FRESH_CLONE=1
npm test

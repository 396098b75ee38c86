#!/usr/bin/env bash
# ansible-test sanity on the collection as it ships (what `ansible-galaxy collection build`
# packs: plugins, roles, playbooks, meta, docs), against the local Python (no Docker here).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEST="$ROOT/.build/sanity/ansible_collections/llm_research_lab/deploy"
rm -rf "$DEST"
mkdir -p "$DEST"
cd "$ROOT"
for path in galaxy.yml meta plugins roles playbooks changelogs docs README.md LICENSE requirements.txt \
            inventories tests/sanity; do
  [ -e "$path" ] && cp -r --parents "$path" "$DEST/"
done
find "$DEST" -name __pycache__ -prune -exec rm -rf {} +
# ansible-test bootstraps pip in its venvs with a script from a host this machine cannot
# reach; give it the offline stand-in under the name it looks for.
PIP_VERSION=$(grep -m1 -oP "pip='\K[0-9.]+" "$ROOT/.venv-sanity/lib/python3.11/site-packages/ansible_test/_internal/python_requirements.py")
mkdir -p ~/.ansible/test/cache
cp "$ROOT/tests/sanity/get_pip.py" ~/.ansible/test/cache/get_pip_${PIP_VERSION//./_}.py
cd "$DEST"
# ansible-test lists files with git; .build is ignored by the checkout's git, so give the copy
# a repository of its own.
git init -q . && git add -A
"$ROOT/.venv-sanity/bin/ansible-test" sanity --python 3.11 --local --color no "$@"

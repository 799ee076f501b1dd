#!/usr/bin/env bash
# Build bench/.venv-peers: scvi-tools (totalVI, MultiVI, scVI) beside the same CPU torch as remadom, in its own
# virtual environment so that its dependencies never touch remadom's. Needs only the package registry.
set -euo pipefail
cd "$(dirname "$0")"
[ -x .venv-peers/bin/python ] && .venv-peers/bin/python -c "import scvi" 2>/dev/null && { echo "bench/.venv-peers is ready"; exit 0; }
python3 -m venv .venv-peers
.venv-peers/bin/pip install -q torch==2.13.0 scvi-tools==1.4.2
.venv-peers/bin/python -c "import scvi, torch; print('scvi-tools', scvi.__version__, '| torch', torch.__version__)"

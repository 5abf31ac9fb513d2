#!/usr/bin/env bash
# Creates the project-local Python venv (.venv at the repository root) with the pinned
# moto server the sandbox runs (shared/sandbox/src/aws). Idempotent: when the venv already
# has the pinned versions it only prints them.
#
#   scripts/setup-venv.sh            # create or update .venv
#   NODELESS_VENV=/path scripts/setup-venv.sh
#
# PIP_FIND_LINKS (e.g. /opt/wheels) is honoured by pip as usual.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${NODELESS_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

# Pins: moto and the packages its server and our patches import (boto3 seeds the
# cluster inside the moto process). Keep in step with shared/notes/moto.md.
pins=(
  "moto[server]==5.2.5"
  "boto3==1.44.8"
  "botocore==1.44.8"
  "PyYAML==6.0.3"
)
stamp="$venv/.nodeless-pins"
want="$(printf '%s\n' "${pins[@]}")"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  "$venv/bin/python" -c 'import moto; print("moto", moto.__version__, "(venv ready: '"$venv"')")'
  exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}"
"$venv/bin/python" -c 'import moto, boto3, flask, werkzeug, yaml' # fail here, not at sandbox start
printf '%s\n' "${pins[@]}" > "$stamp"
"$venv/bin/python" -c 'import moto; print("moto", moto.__version__, "(installed into '"$venv"')")'

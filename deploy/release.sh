#!/usr/bin/env bash
# Deploy a Rempart version on one machine: ./deploy/release.sh <git-ref> [--migrate]
# Run it on every machine; pass --migrate on exactly one (first), before the others restart.
# Migrations are written in steps (add, backfill, remove) so old and new code run side by side.
set -euo pipefail

ref=${1:?usage: release.sh <git-ref> [--migrate]}
migrate=${2:-}
cd /opt/rempart

set -a
# shellcheck disable=SC1091
. /etc/rempart/rempart.env
set +a

# A restore point, taken with the code now running (it matches the schema), when there is one.
if [ "$migrate" = "--migrate" ] && [ -x .venv/bin/python ] \
    && .venv/bin/python manage.py migrate --check >/dev/null 2>&1; then
    .venv/bin/python manage.py backup --output "avant-${ref//\//-}-$(date -u +%Y%m%d-%H%M%S).tar.gz"
fi

git fetch --quiet origin
git checkout --quiet --detach "$ref"
make install                                   # uv sync --frozen into .venv
.venv/bin/python manage.py check --deploy --fail-level WARNING
.venv/bin/python manage.py collectstatic --noinput --verbosity 0
if [ "$migrate" = "--migrate" ]; then
    .venv/bin/python manage.py migrate --noinput
    # Reference data shipped with this version (idempotent: only what changed is loaded, as a
    # new version; existing exercises and assessments keep theirs).
    .venv/bin/python manage.py exercise_library_load
    .venv/bin/python manage.py questionnaire_load
fi
for unit in rempart-web rempart-tracking rempart-worker rempart-beat; do
    if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
        systemctl restart "$unit"
    fi
done

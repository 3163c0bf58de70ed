# Sourced by scripts/start and scripts/test (bash): set up .venv for the checkout.
#
#   setup_venv EXTRAS      # EXTRAS: "" for the app, "[test]" for the test tools
#
# Creates .venv when missing ($PYTHON, default python3) and installs the project
# into it (pip install -e ".EXTRAS"), unless .venv was already set up for exactly
# this pyproject.toml, this Python and these extras: a stamp file in .venv
# (.venv/.setup-stamp-app, .venv/.setup-stamp-test) holds a hash of the three, written only after pip
# succeeded. An editable install sees changes to the code without reinstalling;
# what needs a reinstall (dependencies, entry points) is in pyproject.toml.
# ONCALL_NOTIFIER_REINSTALL=1, or deleting the stamp, forces the install.
setup_venv() {
  local extras="$1" name stamp want
  name="${extras//[^a-z0-9]/}"
  stamp=".venv/.setup-stamp-${name:-app}"
  if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
  fi
  want="$(.venv/bin/python -c '
import hashlib, sys
digest = hashlib.sha256(open("pyproject.toml", "rb").read())
digest.update(sys.version.encode() + b"\0" + sys.argv[1].encode())
print(digest.hexdigest())' "$extras")"
  if [ "${ONCALL_NOTIFIER_REINSTALL:-}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  rm -f "$stamp"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".$extras"
  printf '%s\n' "$want" > "$stamp"
}

# A Matrix homeserver for the stakeholder tests (testing/support/synapse.py, issue 19):
# Synapse from PyPI in a venv of its own (.synapse-venv; it pins its own Twisted), made
# once; ~4 minutes on a 2-core machine from an empty pip cache.
setup_synapse() {
  if [ -x .synapse-venv/bin/python ] && .synapse-venv/bin/python -c "import synapse" 2>/dev/null; then
    return 0
  fi
  rm -rf .synapse-venv
  "${PYTHON:-python3}" -m venv .synapse-venv
  .synapse-venv/bin/python -m pip install -q --disable-pip-version-check "matrix-synapse>=1.100,<2"
}

#!/usr/bin/env bash
# Install oncall-notifier for the current user on Linux:
#   a virtual environment in ~/.local/share/oncall-notifier/venv, the command in
#   ~/.local/bin, a menu entry and the icon; --autostart also starts it at login.
#
#   installers/linux/install.sh [--autostart] [--python PY] [--venv DIR]
#
# --venv DIR uses an existing environment that already has oncall-notifier
# installed (no download). Everything goes under $XDG_DATA_HOME / $XDG_CONFIG_HOME
# (default ~/.local/share, ~/.config) and ~/.local/bin; nothing needs root.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
venv=""
autostart=0
while [ $# -gt 0 ]; do
  case "$1" in
    --autostart) autostart=1 ;;
    --python) python="$2"; shift ;;
    --venv) venv="$2"; shift ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

data="${XDG_DATA_HOME:-$HOME/.local/share}"
config="${XDG_CONFIG_HOME:-$HOME/.config}"
bin="$HOME/.local/bin"

if [ -z "$venv" ]; then
  venv="$data/oncall-notifier/venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade "$here"
fi
[ -x "$venv/bin/oncall-notifier" ] || { echo "install.sh: $venv has no oncall-notifier" >&2; exit 1; }

mkdir -p "$bin" "$data/applications" "$data/icons/hicolor/scalable/apps"
ln -sf "$venv/bin/oncall-notifier" "$bin/oncall-notifier"
cp "$here/resources/icons/oncall-notifier.svg" "$data/icons/hicolor/scalable/apps/oncall-notifier.svg"
sed "s|^Exec=.*|Exec=$bin/oncall-notifier|" "$here/resources/desktop/oncall-notifier.desktop" \
  > "$data/applications/oncall-notifier.desktop"
if [ "$autostart" = 1 ]; then
  mkdir -p "$config/autostart"
  cp "$data/applications/oncall-notifier.desktop" "$config/autostart/oncall-notifier.desktop"
fi
command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database "$data/applications" || true
echo "Installed: $bin/oncall-notifier (menu entry: On-call Notifier)."
case ":$PATH:" in *":$bin:"*) ;; *) echo "Add $bin to your PATH to run oncall-notifier from a terminal." ;; esac
echo "Check this laptop can wake you: oncall-notifier doctor"

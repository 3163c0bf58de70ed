#!/usr/bin/env bash
# Install oncall-notifier for the current user on Linux:
#   a virtual environment in ~/.local/share/oncall-notifier/venv with this checkout
#   installed into it (a normal, non-editable install), the command in ~/.local/bin,
#   a menu entry and the icon; --autostart also starts it at login.
#
#   installers/linux/install.sh [--autostart] [--python PY] [--venv DIR]
#   installers/linux/install.sh --uninstall
#
# --venv DIR uses an existing environment that already has oncall-notifier
# installed (no download). --uninstall removes everything an install added (its
# list is kept in ~/.local/share/oncall-notifier/installed) and keeps your profile
# (settings, incidents) in ~/.config/oncall-notifier. Everything goes under
# $XDG_DATA_HOME / $XDG_CONFIG_HOME (default ~/.local/share, ~/.config) and
# ~/.local/bin; nothing needs root.
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
python="${PYTHON:-python3}"
venv=""
autostart=0
uninstall=0
while [ $# -gt 0 ]; do
  case "$1" in
    --autostart) autostart=1 ;;
    --uninstall) uninstall=1 ;;
    --python) python="${2:?--python needs a program}"; shift ;;
    --venv) venv="${2:?--venv needs a directory}"; shift ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

data="${XDG_DATA_HOME:-$HOME/.local/share}"
config="${XDG_CONFIG_HOME:-$HOME/.config}"
bin="$HOME/.local/bin"
home_dir="$data/oncall-notifier"        # the environment and the list of what we added
manifest="$home_dir/installed"
command_link="$bin/oncall-notifier"
menu_entry="$data/applications/oncall-notifier.desktop"
autostart_entry="$config/autostart/oncall-notifier.desktop"
icons="$data/icons/hicolor"

# How the menu entry and the autostart entry start the app: the one place to change it.
launch=("$command_link" --supervised)

# One Exec value from the words of a command line, quoted as the Desktop Entry
# specification says: a word with anything but safe characters goes in double quotes
# with ", `, $ and \ escaped (twice for \, and once more by the string escape rule);
# % is doubled everywhere (it starts field codes).
desktop_exec() {
  local out="" word
  for word in "$@"; do
    word="${word//%/%%}"
    if [[ ! "$word" =~ ^[A-Za-z0-9_@%+=:,./-]+$ ]]; then
      word="\"$(printf '%s' "$word" | sed -e 's/\\/\\\\\\\\/g' -e 's/["`$]/\\\\&/g')\""
    fi
    out+="${out:+ }$word"
  done
  printf '%s' "$out"
}

# What an install adds is listed in $manifest ("file PATH", "dir PATH" for each
# directory it had to create), so that --uninstall removes exactly that.
new_entries=()
mkdirs() {
  local dir d missing
  for dir in "$@"; do
    missing=()
    d="$dir"
    while [ ! -d "$d" ]; do missing+=("$d"); d="$(dirname "$d")"; done
    mkdir -p "$dir"
    for d in "${missing[@]}"; do new_entries+=("dir $d"); done
  done
}
added() { new_entries+=("file $1"); }

if [ "$uninstall" = 1 ]; then
  if [ ! -f "$manifest" ]; then
    echo "install.sh: nothing to uninstall: $manifest is missing (oncall-notifier was not installed by this script)" >&2
    exit 1
  fi
  # files first (the environment is one of them), then the directories we created,
  # deepest first, each only if nothing else is in it now
  while IFS= read -r path; do
    if [ "$path" = "$home_dir/venv" ]; then rm -rf -- "$path"; else rm -f -- "$path"; fi
  done < <(sed -n 's/^file //p' "$manifest")
  rm -f -- "$autostart_entry"  # also the one the app's "Start at login" may have written
  dirs="$(sed -n 's/^dir //p' "$manifest" | sort -r)"
  rm -f -- "$manifest"
  while IFS= read -r dir; do
    [ -n "$dir" ] && rmdir -- "$dir" 2>/dev/null || true
  done <<< "$dirs"
  echo "Uninstalled oncall-notifier. Your profile (settings, incidents) is kept in $config/oncall-notifier; delete it to remove them too."
  exit 0
fi

mkdirs "$home_dir"
if [ -z "$venv" ]; then
  venv="$home_dir/venv"
  [ -e "$venv" ] || added "$venv"
  if ! "$python" -m venv "$venv"; then
    echo "install.sh: $python could not create a virtual environment; on Debian/Ubuntu: sudo apt install python3-venv" >&2
    exit 1
  fi
  if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade "$here"; then
    echo "install.sh: pip could not install oncall-notifier from $here (see the messages above)" >&2
    exit 1
  fi
fi
[ -x "$venv/bin/oncall-notifier" ] || { echo "install.sh: $venv has no oncall-notifier; install it there first, or leave out --venv" >&2; exit 1; }

mkdirs "$bin" "$data/applications" "$icons/scalable/apps"
ln -sfn "$venv/bin/oncall-notifier" "$command_link"; added "$command_link"
cp "$here/resources/icons/oncall-notifier.svg" "$icons/scalable/apps/oncall-notifier.svg"
added "$icons/scalable/apps/oncall-notifier.svg"
for png in "$here"/resources/icons/png/*/oncall-notifier.png; do
  size="$(basename "$(dirname "$png")")"
  mkdirs "$icons/$size/apps"
  cp "$png" "$icons/$size/apps/oncall-notifier.png"; added "$icons/$size/apps/oncall-notifier.png"
done
write_entry() {  # DEST: the desktop entry of resources/ with our Exec line
  EXEC_VALUE="$(desktop_exec "${launch[@]}")" \
    awk '/^Exec=/ { print "Exec=" ENVIRON["EXEC_VALUE"]; next } { print }' \
    "$here/resources/desktop/oncall-notifier.desktop" > "$1"
  added "$1"
}
write_entry "$menu_entry"
if [ "$autostart" = 1 ]; then
  mkdirs "$config/autostart"
  write_entry "$autostart_entry"
fi
# an earlier install's list stays part of this one (a re-install creates no directories)
{ [ ! -f "$manifest" ] || cat "$manifest"; printf '%s\n' "${new_entries[@]}"; } | sort -u > "$manifest.tmp"
mv "$manifest.tmp" "$manifest"

echo "Installed: $command_link (menu entry: On-call Notifier)."
case ":$PATH:" in *":$bin:"*) ;; *) echo "Add $bin to your PATH to run oncall-notifier from a terminal." ;; esac
echo "Check this laptop can wake you: oncall-notifier doctor"

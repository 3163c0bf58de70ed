#!/usr/bin/env bash
# Pack dist/On-call Notifier.app (from installers/macos/oncall-notifier.spec) into
# dist/oncall-notifier-VERSION.dmg: the app beside a link to /Applications, to drag
# it across. Runs on macOS (hdiutil); the version is the one of notifier/__init__.py.
#
#   installers/macos/make-dmg.sh [DIST_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dist="${1:-$root/dist}"
app="$dist/On-call Notifier.app"
version="$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$root/notifier/__init__.py")"
command -v hdiutil >/dev/null || { echo "make-dmg.sh: hdiutil is missing: run this on macOS" >&2; exit 1; }
[ -d "$app" ] || { echo "make-dmg.sh: $app is missing: build it first with pyinstaller installers/macos/oncall-notifier.spec" >&2; exit 1; }
bundled="$(/usr/libexec/PlistBuddy -c 'Print :CFBundleShortVersionString' "$app/Contents/Info.plist")"
[ "$bundled" = "$version" ] || { echo "make-dmg.sh: the app says $bundled, the tree $version: rebuild the app" >&2; exit 1; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
out="$dist/oncall-notifier-$version.dmg"
rm -f "$out"
hdiutil create -volname "On-call Notifier $version" -srcfolder "$stage" -fs HFS+ -format UDZO "$out"
echo "Made $out"

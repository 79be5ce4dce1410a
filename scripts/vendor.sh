#!/usr/bin/env bash
# Copies the pinned front-end libraries (package.json / package-lock.json) into static/vendor/:
# the pages load them from there, never from a CDN, so the app works on a machine offline.
# Only the built files the pages use are copied, each with its licence (and the licences of what
# its bundle contains). Skips all work while static/vendor/ matches the lock file and this script.
# Needs Node.js and npm once per change of the lock file; run.sh and test.sh call it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out="static/vendor"
stamp_file="$out/.stamp"
stamp="$(cat package-lock.json scripts/vendor.sh | sha256sum | cut -c1-32)"

# Every file the templates reference (tests/test_pages.py checks the pages use nothing else).
required=(
    bootstrap/css/bootstrap.min.css
    bootstrap/js/bootstrap.bundle.min.js
    bootstrap-icons/bootstrap-icons.min.css
    bootstrap-icons/fonts/bootstrap-icons.woff2
    bootstrap-icons/fonts/bootstrap-icons.woff
    chart.js/chart.umd.min.js
    socket.io-client/socket.io.min.js
)

is_up_to_date() {
    [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] || return 1
    local f
    for f in "${required[@]}"; do
        [ -f "$out/$f" ] || return 1
    done
}

if is_up_to_date; then
    exit 0
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    cat >&2 <<'MSG'
scripts/vendor.sh: Node.js and npm are needed (once) to copy the web pages' libraries
(Bootstrap, Bootstrap Icons, Chart.js, the Socket.IO client) into static/vendor/.
Install Node.js 18 or newer with npm, then run this command again:
  Debian/Ubuntu:  sudo apt-get install -y nodejs npm
  macOS:          brew install node
  other systems:  https://nodejs.org/en/download
MSG
    exit 1
fi
npm_major="$(npm --version 2>/dev/null | cut -d. -f1)"
if [ -z "$npm_major" ] || [ "$npm_major" -lt 7 ]; then
    echo "scripts/vendor.sh: npm $(npm --version 2>/dev/null || echo '?') is too old for package-lock.json" \
        "(version 3); install Node.js 18 or newer (https://nodejs.org/en/download)." >&2
    exit 1
fi

# One copy at a time (./run.sh and ./test.sh may start together); the loser finds it done.
if command -v flock >/dev/null 2>&1; then
    lock="${TMPDIR:-/tmp}/solroute-vendor-$(pwd | sha256sum | cut -c1-12).lock"
    exec 9>"$lock"
    flock 9
    if is_up_to_date; then
        exit 0
    fi
fi

echo "vendor: installing the pinned front-end packages (npm ci) into static/vendor/" >&2
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2

nm="node_modules"
mkdir -p static
tmp="$(mktemp -d "static/.vendor.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

copy() {  # copy SRC... DEST_DIR (created)
    local dest="${*: -1}"
    mkdir -p "$tmp/$dest"
    cp "${@:1:$#-1}" "$tmp/$dest/"
}

copy "$nm/bootstrap/dist/css/bootstrap.min.css" "$nm/bootstrap/dist/css/bootstrap.min.css.map" bootstrap/css
copy "$nm/bootstrap/dist/js/bootstrap.bundle.min.js" "$nm/bootstrap/dist/js/bootstrap.bundle.min.js.map" \
    bootstrap/js
copy "$nm/bootstrap/LICENSE" bootstrap
cp "$nm/@popperjs/core/LICENSE.md" "$tmp/bootstrap/LICENSE-popperjs-core.md"  # inside the bundle

copy "$nm/bootstrap-icons/font/bootstrap-icons.min.css" "$nm/bootstrap-icons/LICENSE" bootstrap-icons
copy "$nm/bootstrap-icons/font/fonts/bootstrap-icons.woff2" "$nm/bootstrap-icons/font/fonts/bootstrap-icons.woff" \
    bootstrap-icons/fonts

copy "$nm/chart.js/dist/chart.umd.min.js" "$nm/chart.js/dist/chart.umd.min.js.map" "$nm/chart.js/LICENSE.md" \
    chart.js
cp "$nm/@kurkle/color/LICENSE.md" "$tmp/chart.js/LICENSE-kurkle-color.md"  # bundled into the UMD build

copy "$nm/socket.io-client/dist/socket.io.min.js" "$nm/socket.io-client/dist/socket.io.min.js.map" \
    "$nm/socket.io-client/LICENSE" socket.io-client
for dep in engine.io-client engine.io-parser socket.io-parser @socket.io/component-emitter; do
    cp "$nm/$dep/LICENSE" "$tmp/socket.io-client/LICENSE-${dep//\//-}"  # bundled into socket.io.min.js
done

for f in "${required[@]}"; do
    [ -f "$tmp/$f" ] || { echo "scripts/vendor.sh: $f was not produced; check package-lock.json" >&2; exit 1; }
done
echo "$stamp" > "$tmp/.stamp"
chmod -R a+rX "$tmp"
rm -rf "$out"
mv "$tmp" "$out"
trap - EXIT
echo "vendor: static/vendor/ is up to date" >&2

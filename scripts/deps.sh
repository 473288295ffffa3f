#!/usr/bin/env bash
# Installs what vkassets needs to build and test on Debian/Ubuntu: the Vulkan
# loader and headers, Mesa's lavapipe (a conformant CPU Vulkan device), the
# Khronos validation layer, Xvfb, the X11/GL headers GLFW compiles against,
# Debian's chromium and, with npm, the playwright-core that drives it in the
# inspector's browser test (inspector/browser), zstd and ktx-parse for the
# KTX2 interop files (scripts/ktx2-interop). Without root or sudo it prints
# the exact command to run and stops.
set -euo pipefail

packages=(
  gcc pkg-config
  libvulkan-dev libvulkan1 mesa-vulkan-drivers vulkan-validationlayers
  xvfb xauth
  libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev libgl1-mesa-dev
  chromium zstd
)

# The Node packages of the tests that use them, each directory from its
# lock file: the browser test's playwright-core (inspector/browser) and
# ktx-parse, the independent KTX2 implementation the KTX2 interop tests
# read files with (scripts/ktx2-interop). `npm ci` runs only where
# node_modules is missing or was installed from another lock.
node_deps() {
  local root dir lock stamp sum
  root="$(cd "$(dirname "$0")/.." && pwd)"
  for dir in "$root/inspector/browser" "$root/scripts/ktx2-interop"; do
    lock="$dir/package-lock.json"
    stamp="$dir/node_modules/.vkassets-lock.sha256"
    [ -f "$lock" ] || continue
    sum="$(sha256sum "$lock" | cut -d' ' -f1)"
    [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && continue
    if ! command -v npm >/dev/null 2>&1; then
      echo "vkassets: npm is not on PATH; the browser and KTX2 interop tests need Node.js 20 or later with npm (then: npm ci in $dir)." >&2
      exit 1
    fi
    echo "vkassets: installing Node packages (npm ci in ${dir#"$root"/})" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$sum" >"$stamp"
  done
}

if ! command -v go >/dev/null 2>&1; then
  echo "vkassets: Go is not on PATH. Install Go 1.26 (https://go.dev/dl/) and put its bin directory on PATH." >&2
  exit 1
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "vkassets: not a Debian-based system; make sure these (or your distribution's equivalents) are installed:" >&2
  echo "  ${packages[*]}" >&2
  node_deps
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  node_deps
  exit 0
fi

echo "vkassets: missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  sudo=(sudo)
else
  echo "vkassets: these packages are missing and installing them needs root or sudo:" >&2
  echo "  apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
node_deps

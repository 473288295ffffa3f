#!/usr/bin/env bash
# Installs what vkassets needs to build and test on Debian/Ubuntu: the Vulkan
# loader and headers, Mesa's lavapipe (a conformant CPU Vulkan device), the
# Khronos validation layer, Xvfb, the X11/GL headers GLFW compiles against,
# Debian's chromium and, with npm, the playwright-core that drives it in the
# inspector's browser test (inspector/browser). Without root or sudo it prints
# the exact command to run and stops.
set -euo pipefail

packages=(
  gcc pkg-config
  libvulkan-dev libvulkan1 mesa-vulkan-drivers vulkan-validationlayers
  xvfb xauth
  libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev libgl1-mesa-dev
  chromium
)

# The browser test's Node packages, installed from its lock file. `npm ci`
# runs only when node_modules is missing or was installed from another lock.
browser_deps() {
  local dir lock stamp sum
  dir="$(cd "$(dirname "$0")/.." && pwd)/inspector/browser"
  lock="$dir/package-lock.json"
  stamp="$dir/node_modules/.vkassets-lock.sha256"
  [ -f "$lock" ] || return 0
  sum="$(sha256sum "$lock" | cut -d' ' -f1)"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$sum" ] && return 0
  if ! command -v npm >/dev/null 2>&1; then
    echo "vkassets: npm is not on PATH; the browser test needs Node.js 20 or later with npm (then: cd inspector/browser && npm ci)." >&2
    exit 1
  fi
  echo "vkassets: installing the browser test's packages (npm ci in inspector/browser)" >&2
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  echo "$sum" >"$stamp"
}

if ! command -v go >/dev/null 2>&1; then
  echo "vkassets: Go is not on PATH. Install Go 1.26 (https://go.dev/dl/) and put its bin directory on PATH." >&2
  exit 1
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "vkassets: not a Debian-based system; make sure these (or your distribution's equivalents) are installed:" >&2
  echo "  ${packages[*]}" >&2
  browser_deps
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  browser_deps
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
browser_deps

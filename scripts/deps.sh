#!/usr/bin/env bash
# Installs what vkassets needs to build and test on Debian/Ubuntu: the Vulkan
# loader and headers, Mesa's lavapipe (a conformant CPU Vulkan device), the
# Khronos validation layer, Xvfb, and the X11/GL headers GLFW compiles against.
# Without root or sudo it prints the exact command to run and stops.
set -euo pipefail

packages=(
  gcc pkg-config
  libvulkan-dev libvulkan1 mesa-vulkan-drivers vulkan-validationlayers
  xvfb xauth
  libx11-dev libxcursor-dev libxrandr-dev libxinerama-dev libxi-dev libxxf86vm-dev libgl1-mesa-dev
)

if ! command -v go >/dev/null 2>&1; then
  echo "vkassets: Go is not on PATH. Install Go 1.26 (https://go.dev/dl/) and put its bin directory on PATH." >&2
  exit 1
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "vkassets: not a Debian-based system; make sure these (or your distribution's equivalents) are installed:" >&2
  echo "  ${packages[*]}" >&2
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

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

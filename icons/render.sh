#!/usr/bin/env bash
# Renders the PNGs Tauri and the Linux tray need from the SVG sources in src/.
# Needs rsvg-convert (Debian: librsvg2-bin). The PNGs are committed, so only
# someone changing an SVG runs this.
set -euo pipefail
cd "$(dirname "$0")"
app() { rsvg-convert -w "$1" -h "$1" src/app.svg -o "$2"; }
app 32 32x32.png
app 128 128x128.png
app 256 128x128@2x.png
app 512 icon.png
for svg in src/tray-*.svg; do
  name=$(basename "$svg" .svg)
  rsvg-convert -w 22 -h 22 "$svg" -o "$name.png"
  rsvg-convert -w 44 -h 44 "$svg" -o "$name@2x.png"
done

#!/bin/sh
# Installs the Debian packages that tests drive as real clients or peers. Runs apt-get
# only when a package is missing and we are root; otherwise says what is missing and the
# tests that need it skip (outside CI) or fail (under CI=true).
# chromium: the browser tests (tests/web/browser) drive it headless through Playwright.
PKGS="isync fetchmail dovecot-lmtpd postgresql libwbxml2-utils litmus syncevolution chromium"
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "installing test dependencies:$missing"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null || {
    echo "apt-get install$missing failed" >&2; exit 1; }
else
  echo "not root: cannot install$missing; tests needing them will skip (or fail under CI=true)"
fi

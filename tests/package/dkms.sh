#!/bin/bash
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
#
# The DKMS package on this machine, as a user installs it: scripts/
# package-dkms builds cmr-dkms_<VERSION>_all.deb, dpkg installs it (DKMS
# registers the sources), DKMS builds and installs cmr.ko for the 6.1
# target and the 6.12 LTS kernel, each of those modules runs the device and
# example tests in a VM of its kernel, and removing the package removes
# every module and the sources.  Leaves the package removed.
set -u -o pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/scripts/env.sh"
fail() { echo "FAIL: $*"; exit 1; }

version=$(cat "$top/VERSION")
deb=$("$top/scripts/package-dkms") || fail "package-dkms"
lts=$("$top/scripts/build-kmod-for" linux-image-6.12-amd64) ||
	fail "no 6.12 kernel"

# A clean start: no cmr-dkms from an earlier run.
dpkg -r cmr-dkms > /dev/null 2>&1
trap 'dpkg -r cmr-dkms > /dev/null 2>&1' EXIT

[ "$(dpkg-deb -f "$deb" Package Version Architecture | tr '\n' ' ')" = \
  "Package: cmr-dkms Version: $version Architecture: all " ] ||
	fail "control fields: $(dpkg-deb -f "$deb")"
if dpkg-deb -c "$deb" | grep -E '\.(o|ko|mod|cmd)$'; then
	fail "build products in the package"
fi
dpkg -i "$deb" || fail "dpkg -i"
[ -f "/usr/src/cmr-$version/dkms.conf" ] || fail "no sources in /usr/src"
[ -n "$(dkms status -m cmr -v "$version")" ] || fail "not registered with DKMS"

for k in "$KVER" "$lts"; do
	dkms install -m cmr -v "$version" -k "$k" || fail "dkms install -k $k"
	# Compressed as the kernel's own modules are (6.12: cmr.ko.xz).
	ko=$(ls "/lib/modules/$k/updates/dkms/cmr.ko"*) || fail "no cmr.ko for $k"
	[ "$(modinfo -F vermagic "$ko" | cut -d' ' -f1)" = "$k" ] ||
		fail "$ko: vermagic $(modinfo -F vermagic "$ko")"
	# The VM has the kernel image's own /lib/modules: it gets a copy,
	# and the loaded module's version and srcversion show it is this one.
	mkdir -p "$CMR_BUILD/dkms-$k"
	cp "$ko" "$CMR_BUILD/dkms-$k/"
	want="$version $(modinfo -F srcversion "$ko")"
	KVER=$k CMR_KMOD=$CMR_BUILD/dkms-$k/$(basename "$ko") CMR_SUITE=dkms-$k "$top/tests/vm/run" bash -c '
		got="$(cat /sys/module/cmr/version) $(cat /sys/module/cmr/srcversion)"
		[ "$got" = "'"$want"'" ] || { echo "loaded $got, not '"$want"'"; exit 1; }
		tests/vm/suite 00-device && tests/vm/suite 40-examples' ||
		fail "in the VM of $k"
done

dpkg -r cmr-dkms || fail "dpkg -r"
[ ! -e "/usr/src/cmr-$version" ] || fail "sources left in /usr/src"
[ -z "$(dkms status -m cmr)" ] || fail "DKMS still knows cmr: $(dkms status -m cmr)"
for k in "$KVER" "$lts"; do
	! ls "/lib/modules/$k/updates/dkms/cmr.ko"* 2>/dev/null ||
		fail "cmr.ko left for $k"
done
echo "cmr-dkms $version: built, installed and run on $KVER and $lts, removed"

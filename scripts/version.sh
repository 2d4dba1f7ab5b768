#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Prints sealsync's version string: the VERSION file of the source tree DIR
# (default: this script's tree), followed by " (COMMIT)" when DIR is a git
# checkout, COMMIT being `git describe --always --dirty`.  Outside a git
# checkout (a release tarball, a copy) it prints the VERSION only.
set -eu
dir=${1:-$(dirname "$0")/..}
version=$(sed -n '1{s/[[:space:]]//g;p;}' "$dir/VERSION")
case $version in
'' | *[!0-9A-Za-z.+~-]*)
        echo "version.sh: $dir/VERSION: bad version '$version'" >&2
        exit 1
        ;;
esac
commit=
if [ -e "$dir/.git" ] && command -v git >/dev/null 2>&1; then
        # safe.directory: `sudo make install` in a user's checkout must name the same commit.
        commit=$(git -c safe.directory="*" -C "$dir" describe --always --dirty 2>/dev/null) || commit=
        case $commit in *[!0-9A-Za-z.+~_-]*) commit= ;; esac
fi
if [ -n "$commit" ]; then
        printf '%s (%s)\n' "$version" "$commit"
else
        printf '%s\n' "$version"
fi

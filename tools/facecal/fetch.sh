#!/bin/sh
# fetch.sh DIR: downloads the calibration photos listed in photos.tsv, at the commits named in
# sources.tsv, into DIR/<owner>/<repository>/<path>. Needs git and network access; fetches only
# the listed files (a blobless clone of each repository).
set -eu
dir=${1:?usage: fetch.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' "$here/sources.tsv" | while IFS="$(printf '\t')" read -r repo commit _; do
	paths=$(grep -v '^#' "$here/photos.tsv" | awk -F '\t' -v r="$repo" '$3 == r { print $4 }')
	[ -n "$paths" ] || continue
	clone="$tmp/$(echo "$repo" | tr / _)"
	git clone -q --filter=blob:none --no-checkout "https://github.com/$repo.git" "$clone"
	for p in $paths; do
		mkdir -p "$dir/$repo/$(dirname "$p")"
		git -C "$clone" show "$commit:$p" > "$dir/$repo/$p"
	done
	echo "$repo: $(echo "$paths" | wc -l) photos"
done

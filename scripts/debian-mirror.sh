# Shared helper for the scripts that fetch from Debian's archive; sourced, not run.

# Prints the Debian mirror to fetch suite $1 from: $DEBIAN_MIRROR when set, else the first
# URI that apt's sources (deb822 .sources files, then one-line .list files) use for that
# suite. Prints nothing when no source names the suite.
find_debian_mirror() {
  local suite="$1" file
  if [ -n "${DEBIAN_MIRROR:-}" ]; then
    echo "$DEBIAN_MIRROR"
    return 0
  fi
  {
    # deb822 files: the URIs of the stanza whose Suites list the plain suite name.
    for file in /etc/apt/sources.list.d/*.sources; do
      [ -e "$file" ] || continue
      awk -v suite="$suite" '
        /^[[:space:]]*$/ { if (uri != "" && found) { print uri; exit } uri = ""; found = 0; next }
        $1 == "URIs:" { uri = $2 }
        $1 == "Suites:" { for (i = 2; i <= NF; i++) if ($i == suite) found = 1 }
        END { if (uri != "" && found) print uri }
      ' "$file" | head -n 1
    done
    # One-line format.
    for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -e "$file" ] || continue
      awk -v suite="$suite" '$1 == "deb" && $3 == suite { print $2; exit }' "$file"
    done
  } | awk 'NR == 1'
}

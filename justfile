# Conformance: probes recorded on a real arm64 kernel, compared with carrick.
# See docs/conformance.md.

# Run every conformance probe under carrick and compare with the recorded oracle output.
conformance *NAMES:
    scripts/conformance.sh {{NAMES}}

# Record expected probe output on a real arm64 kernel (all probes, or the named ones).
oracle *NAMES:
    scripts/oracle.sh {{NAMES}}

# Re-record every probe on the real kernel into a temp dir; fail if any output changed.
oracle-check:
    scripts/oracle-check.sh

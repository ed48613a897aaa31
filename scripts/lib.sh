# scripts/lib.sh - the steps the project's bash scripts share, sourced by models/fetch,
# models/fetch-libtorch, models/with-libtorch, notebooks/run and benches/run: messages, usage
# from the script's header comment, size and sha256 checks, pinned venvs, verified wheel
# downloads, a lock, and temporary paths removed on exit.
#
# Set LOG_NAME (the prefix of every message) and source it:
#
#   LOG_NAME=models
#   source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
#
# It sets REPO_ROOT, HOST_PY (the interpreter venvs and pip downloads start from: $PYTHON,
# default python3) and WHEEL_CACHE (models/.cache, where every verified wheel is kept).
# Python work lives in .py files beside the scripts, called with arguments.

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
HOST_PY="${PYTHON:-python3}"
WHEEL_CACHE="$REPO_ROOT/models/.cache"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1

# ---- messages ----------------------------------------------------------------------------------

log() { printf '%s: %s\n' "$LOG_NAME" "$*" >&2; }

# die MESSAGE [DETAIL...]: the message, then each detail (what was found, what to do) on its
# own indented line; exits 1.
die() {
    printf '%s: ERROR: %s\n' "$LOG_NAME" "$1" >&2
    shift || true
    local line
    for line in "$@"; do printf '%s:        %s\n' "$LOG_NAME" "$line" >&2; done
    exit 1
}

# usage: the running script's header comment (from line 2 to the first line that is not a
# comment), without the comment marks, on stderr.
usage() {
    awk 'NR == 1 { next } !/^#/ { exit } { sub(/^# ?/, ""); print }' "${BASH_SOURCE[-1]}" >&2
}

# repo_path PATH: PATH relative to the repository root, for messages.
repo_path() { printf '%s' "${1#"$REPO_ROOT"/}"; }

# ---- files -------------------------------------------------------------------------------------

sha256_of() { sha256sum -- "$1" | cut -d' ' -f1; }
size_of() { stat -c %s -- "$1"; }

# check_file PATH SHA256 SIZE: 0 when the file is there with that size and sha256; otherwise 1,
# with BAD_REASON saying what is wrong (missing, or the expected and the found value).
BAD_REASON=""
check_file() {
    local path=$1 sha=$2 size=$3 actual
    if [[ ! -f $path ]]; then
        BAD_REASON="missing"
        return 1
    fi
    actual=$(size_of "$path")
    if [[ $actual != "$size" ]]; then
        BAD_REASON="size mismatch: expected $size bytes, found $actual"
        return 1
    fi
    actual=$(sha256_of "$path")
    if [[ $actual != "$sha" ]]; then
        BAD_REASON="sha256 mismatch: expected $sha, found $actual"
        return 1
    fi
    return 0
}

# remove_on_exit PATH: deletes PATH (a file or a folder) when the script exits, however it exits.
TMP_PATHS=()
remove_tmp_paths() {
    local p
    for p in "${TMP_PATHS[@]}"; do rm -rf -- "$p"; done
}
trap remove_tmp_paths EXIT
remove_on_exit() { TMP_PATHS+=("$1"); }

# lock_or_wait FILE WHAT: holds an exclusive lock on FILE (file descriptor 9) until the script
# exits, first waiting, and saying so, while another WHAT holds it. Without flock: no lock.
lock_or_wait() {
    command -v flock >/dev/null 2>&1 || return 0
    exec 9>"$1"
    if ! flock -n 9; then
        log "another $2 is running; waiting for it"
        flock 9
    fi
}

# ---- Python ------------------------------------------------------------------------------------

# ensure_venv VENV REQUIREMENTS MODULES [PIP_ARG...]: VENV holds exactly the packages pinned in
# REQUIREMENTS (pip install --only-binary=:all: PIP_ARG... -r REQUIREMENTS), unless it already
# does: a stamp holding the file's sha256, written last, marks a complete venv, so an
# interrupted or outdated one is built again. A new venv must import MODULES (space-separated);
# one whose packages pip resolved (no --no-deps) must also pass `pip check`.
ensure_venv() {
    local venv=$1 reqs=$2 modules=$3
    shift 3
    local vpy="$venv/bin/python" stamp="$venv/.requirements.sha256" want
    want=$(sha256_of "$reqs")
    if [[ -x $vpy && -f $stamp && $(cat "$stamp") == "$want" ]]; then
        return 0
    fi
    if [[ -e $venv ]]; then
        log "$(repo_path "$venv") is incomplete or built from another $(basename "$reqs"); recreating it"
        rm -rf -- "$venv"
    fi
    command -v "$HOST_PY" >/dev/null 2>&1 || die "$HOST_PY not found (set PYTHON=/path/to/python3.11)"
    log "creating $(repo_path "$venv") (pinned packages from $(repo_path "$reqs"))"
    "$HOST_PY" -m venv "$venv" ||
        die "could not create the venv at $venv" "is python3-venv installed? try: $HOST_PY -m venv /tmp/x"
    "$vpy" -m pip install --quiet --only-binary=:all: "$@" -r "$reqs" >&2 ||
        die "pip install -r $(repo_path "$reqs") failed" "check the network/package registry and the pins in $reqs"
    "$vpy" -c "import ${modules// /, }" ||
        die "the new $(repo_path "$venv") cannot import ${modules// //}" "delete $venv and retry"
    if [[ " $* " != *" --no-deps "* ]]; then
        "$vpy" -m pip check >&2 || die "the packages in $(repo_path "$venv") do not fit together (see above)"
    fi
    printf '%s\n' "$want" >"$stamp"
}

# download_dir_prefix MANIFEST: where ensure_wheel downloads the wheels MANIFEST pins, before
# they are checked (one prefix per manifest, so each script clears only its own leftovers).
download_dir_prefix() { printf '%s/%s-dl.' "$WHEEL_CACHE" "$(basename "$1" .json)"; }

# ensure_wheel PY MANIFEST WHEEL SHA256 NAME==VERSION [PIP_ARG...]: makes WHEEL_CACHE/WHEEL the
# wheel MANIFEST pins: the cached file if its sha256 matches, else one PY's pip downloads (with
# PIP_ARGs) into a temporary folder, checks for name and sha256, and moves into the cache.
ensure_wheel() {
    local py=$1 manifest=$2 wheel=$3 sha=$4 spec=$5
    shift 5
    local path="$WHEEL_CACHE/$wheel" tmpdir actual
    if [[ -f $path ]]; then
        actual=$(sha256_of "$path")
        if [[ $actual == "$sha" ]]; then
            log "using cached $wheel"
            return 0
        fi
        log "cached $wheel has sha256 $actual, expected $sha; downloading it again"
        rm -f -- "$path"
    fi
    log "downloading $spec"
    mkdir -p "$WHEEL_CACHE"
    tmpdir=$(mktemp -d "$(download_dir_prefix "$manifest")XXXXXX")
    remove_on_exit "$tmpdir"
    "$py" -m pip download --quiet --no-deps --only-binary=:all: "$@" -d "$tmpdir" "$spec" >&2 ||
        die "pip download $spec failed" "check the network/package registry"
    [[ -f $tmpdir/$wheel ]] ||
        die "pip download $spec did not produce $wheel" \
            "got: $(cd "$tmpdir" && ls -1 | tr '\n' ' ')" \
            "the registry may serve a different build; update $(repo_path "$manifest") only after checking the new file"
    actual=$(sha256_of "$tmpdir/$wheel")
    if [[ $actual != "$sha" ]]; then
        rm -f -- "$tmpdir/$wheel"
        die "downloaded $wheel has the wrong sha256 (file removed)" \
            "expected: $sha" "actual:   $actual" \
            "the package on the registry differs from the one pinned in $(repo_path "$manifest"); do not" \
            "update the manifest without checking what changed and re-verifying the extracted files"
    fi
    mv -f -- "$tmpdir/$wheel" "$path"
    log "verified $wheel (sha256 $sha)"
}

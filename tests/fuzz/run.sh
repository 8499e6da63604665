#!/usr/bin/env bash
# Runs each libFuzzer harness of BUILD_DIR (made with -DZDAG_FUZZ=ON) for SECONDS on a copy of
# its seed corpus tests/fuzz/corpus/NAME (with the dictionary tests/fuzz/NAME.dict if there is
# one), one after the other, and prints what each did.
# Exits 1 when any harness found something (crash, sanitizer report, leak, timeout, out of
# memory); its input is kept in BUILD_DIR/fuzz-artifacts and its log in BUILD_DIR/fuzz-logs.
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [NAME...]      (`make fuzz` calls it)
set -uo pipefail
cd "$(dirname "$0")/../.."
[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR SECONDS [NAME...]" >&2; exit 2; }
build=$1 seconds=$2
shift 2
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(wire pipeline journal mpjson)

artifacts=$build/fuzz-artifacts logs=$build/fuzz-logs
mkdir -p "$artifacts" "$logs"
work=$(mktemp -d "${TMPDIR:-/tmp}/zdag-fuzz-XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=()
for name in "${names[@]}"; do
    bin=$build/tests/fuzz/fuzz_$name
    [ -x "$bin" ] || { echo "zdag fuzz: $bin is missing" >&2; exit 2; }
    corpus=$work/$name
    cp -R "tests/fuzz/corpus/$name" "$corpus"
    log=$logs/$name.log
    echo "zdag fuzz: $name for ${seconds}s on a copy of tests/fuzz/corpus/$name" \
         "($(ls "$corpus" | wc -l) seeds)"
    # -timeout: one input running this long is a finding. Leaks are checked (ASan's default).
    dict=()
    [ -f "tests/fuzz/$name.dict" ] && dict=(-dict="tests/fuzz/$name.dict")
    "$bin" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        "${dict[@]}" -artifact_prefix="$artifacts/$name-" "$corpus" >"$log" 2>&1
    rc=$?
    stat() { sed -n "s/^stat::$1: *//p" "$log"; }
    echo "zdag fuzz: $name: exit $rc, $(stat number_of_executed_units) execs," \
         "$(stat average_exec_per_sec) execs/s, $(stat new_units_added) new inputs," \
         "corpus $(ls "$corpus" | wc -l) files, peak RSS $(stat peak_rss_mb) MB"
    if [ $rc -ne 0 ]; then
        failed+=("$name")
        grep -E 'ERROR|SUMMARY|runtime error|fuzz_[a-z]+: |Test unit written' "$log" | head -20
        echo "zdag fuzz: $name FOUND SOMETHING: full log in $log" >&2
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "zdag fuzz: findings in: ${failed[*]} (inputs in $artifacts)" >&2
    exit 1
fi
echo "zdag fuzz: no findings"

# zdag: a thin wrapper over CMake. `make run` and `make test` work on a fresh Debian machine:
# they install what is missing (scripts/install-deps.sh), build, and run.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CTEST_ARGS ?=

.PHONY: all deps build build-asan python run test test-release test-asan bench format format-check clean

all: build

deps:
	@./scripts/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

$(ASAN_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DZDAG_SANITIZE=ON

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j $(JOBS)

# The Python module zdag (C extension over libzdag), importable with PYTHONPATH=$(BUILD)/python;
# built for /usr/bin/python3 (cmake -DZDAG_PYTHON=... for another). Also part of `make build`.
python: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) --target python -j $(JOBS)

# The quick start: an example pipeline on forked local executors.
run: build
	./$(BUILD)/zdag run examples/quickstart.yaml --report $(BUILD)/quickstart-report.json
	@echo "report: $(BUILD)/quickstart-report.json"

# Every test, on the release build and again under AddressSanitizer + UBSan.
test: test-release test-asan

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

test-asan: build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	    ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# zdag side by side with make, ninja, xargs, GNU parallel, ThreadPoolExecutor(2) and Dask, one
# Markdown table per work item of issue 11 (~10 min on 2 cores; BENCH_REPS, BENCH_BIG=1 and the
# other BENCH_* settings: bench/README.md). Never part of `make test`.
bench: build
	./bench/run.sh

# Chaos (not part of `make test`): the lease scenarios (SIGSTOP of a holder's agent, executor or
# worker tree; a netns partition when root; kill -9 of agent or executor), N trials each, and a
# table of double holders, lost nodes, duplicates and hangs. Fails on any double holder, lost
# node or hang. `make chaos N=5` for a quick look.
N ?= 20

.PHONY: chaos

chaos: build
	python3 scripts/chaos.py --zdag $(BUILD)/zdag -n $(N)

# libFuzzer on the parsers of untrusted input (wire frames, pipelines, journals, msgpack), built
# with clang and ASan + UBSan in $(FUZZ_BUILD); each harness runs FUZZ_SECONDS on a copy of its
# seed corpus in tests/fuzz/corpus (the tree is not modified). Fails on any crash or leak.
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: fuzz fuzz-build

$(FUZZ_BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DZDAG_FUZZ=ON -DZDAG_TESTS=OFF

fuzz-build: deps $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) --target zdag_fuzzers -j $(JOBS)

fuzz: fuzz-build
	./tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	git ls-files '*.c' '*.h' | xargs clang-format -i

format-check:
	git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)

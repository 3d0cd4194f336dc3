# Entry points for a fresh Debian 12 clone. `make run` builds and runs the embedded model;
# `make test` builds and passes every test (release, then ASan+UBSan).
JOBS ?= $(shell nproc)
PROMPT ?= Once upon a time

.PHONY: deps build run test test-release test-asan bench clean

deps:
	./scripts/install-deps.sh

build: deps
	cmake --preset release
	cmake --build --preset release -j $(JOBS)

run: build
	./build/release/retort run -p "$(PROMPT)" -n 128

test: test-release test-asan

test-release:
	./scripts/install-deps.sh --test
	cmake --preset release
	cmake --build --preset release -j $(JOBS)
	ctest --preset release -j $(JOBS)

test-asan:
	./scripts/install-deps.sh --test
	cmake --preset asan
	cmake --build --preset asan -j $(JOBS)
	ctest --preset asan -j $(JOBS)

bench: deps
	cmake --preset bench
	cmake --build --preset bench -j $(JOBS)

clean:
	rm -rf build

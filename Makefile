# plumb - the front door.  Everything real happens in meson; this file only
# makes sure the Debian packages are there first, then calls it.
#
#   make demo     install what is missing, build, run the main job
#   make check    install what is missing, build, run every test
#   make bench    run the benchmarks against their peers
#   make install  install into PREFIX (default /usr/local)

BUILD ?= build
PREFIX ?= /usr/local
MESONFLAGS ?=

.PHONY: all build demo check bench install clean deps

all: build

$(BUILD)/build.ninja:
	meson setup $(BUILD) --prefix=$(PREFIX) -Dwerror=true $(MESONFLAGS)

build: $(BUILD)/build.ninja
	ninja -C $(BUILD)

deps:
	@scripts/deps.sh build

demo:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory build
	@scripts/demo.sh $(BUILD)

check:
	@scripts/deps.sh check
	@$(MAKE) --no-print-directory build
	@scripts/check.sh $(BUILD)

bench:
	@scripts/deps.sh bench
	@$(MAKE) --no-print-directory build MESONFLAGS="$(MESONFLAGS)"
	@BUILD=$(BUILD) bench/run.sh

install:
	@scripts/deps.sh build
	@$(MAKE) --no-print-directory build
	meson install -C $(BUILD)

clean:
	rm -rf $(BUILD)

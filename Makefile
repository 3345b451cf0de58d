# Build and install berth.
#   make device ARCH=arm64|armhf|amd64     berthd and berthctl for a device's CPU
#   make install ARCH=… DESTDIR=rootfs     those, the units and the default config
#   make deb ARCH=…                        berthd_<version>_<arch>.deb (and berth's, amd64)
# ARCH defaults to the build host's. The build host tool, berth, is built for the
# host only (make build).
PREFIX ?= /usr
DESTDIR ?=
UNITDIR ?= /lib/systemd/system
SYSCONFDIR ?= /etc
ARCH ?= $(shell dpkg --print-architecture)
# berthd with the registry client (berthctl install docker://…, followed tags).
DEVICE_FEATURES ?= berthd/device-registry

triple_amd64 = x86_64-unknown-linux-gnu
triple_arm64 = aarch64-unknown-linux-gnu
triple_armhf = armv7-unknown-linux-gnueabihf
strip_amd64 = strip
strip_arm64 = aarch64-linux-gnu-strip
strip_armhf = arm-linux-gnueabihf-strip
TRIPLE = $(triple_$(ARCH))
DEVICE_OUT = target/$(TRIPLE)/release

.PHONY: build device install deb test lint check-arch
build:
	cargo build --release --bins

check-arch:
	@test -n "$(TRIPLE)" || { echo "ARCH=$(ARCH): one of amd64, arm64, armhf" >&2; exit 2; }

device: check-arch
	cargo build --release -p berthd -p berthctl $(if $(DEVICE_FEATURES),--features $(DEVICE_FEATURES)) --target $(TRIPLE)
	$(strip_$(ARCH)) $(DEVICE_OUT)/berthd $(DEVICE_OUT)/berthctl

install: device
	install -D -m 0755 $(DEVICE_OUT)/berthd $(DESTDIR)$(PREFIX)/bin/berthd
	install -D -m 0755 $(DEVICE_OUT)/berthctl $(DESTDIR)$(PREFIX)/bin/berthctl
	install -D -m 0644 contrib/systemd/berthd.service $(DESTDIR)$(UNITDIR)/berthd.service
	install -D -m 0644 contrib/systemd/berthd-shutdown.service $(DESTDIR)$(UNITDIR)/berthd-shutdown.service
	install -D -m 0644 contrib/berthd.conf $(DESTDIR)$(SYSCONFDIR)/berth/berthd.conf

deb: device
	bash scripts/deb.sh $(ARCH) berthd
	@if [ "$(ARCH)" = amd64 ]; then $(MAKE) build && bash scripts/deb.sh amd64 berth; fi

test:
	./scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

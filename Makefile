# Build and install berth. `make install DESTDIR=/path/to/rootfs` for an image.
PREFIX ?= /usr
DESTDIR ?=
UNITDIR ?= /lib/systemd/system

.PHONY: build install test lint
build:
	cargo build --release --bins

install: build
	install -D -m 0755 target/release/berth $(DESTDIR)$(PREFIX)/bin/berth
	install -D -m 0755 target/release/berthd $(DESTDIR)$(PREFIX)/bin/berthd
	install -D -m 0755 target/release/berthctl $(DESTDIR)$(PREFIX)/bin/berthctl
	install -D -m 0644 contrib/systemd/berthd.service $(DESTDIR)$(UNITDIR)/berthd.service
	install -D -m 0644 contrib/systemd/berthd-shutdown.service $(DESTDIR)$(UNITDIR)/berthd-shutdown.service

test:
	./scripts/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --all-features -- -D warnings

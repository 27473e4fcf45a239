# The two commands of the README, and the pieces they are made of.
.PHONY: run test site decoy release lint bench

# The API suite runs a second time on PostgreSQL (scripts/setup.sh test prepares the role).
TEST_PG ?= postgres://decnet_test:decnet-test@127.0.0.1:5432/postgres

run: release
	./target/release/decnet serve

test:
	scripts/setup.sh test
	cargo run -q -p xtask -- site
	cargo build -p decnet-decoy --release --target x86_64-unknown-linux-musl
	cargo build -p decnet-common --target wasm32-unknown-unknown
	cargo test --workspace --exclude frontend --no-fail-fast
	DECNET_TEST_PG=$(TEST_PG) cargo test -p server --test api

site:
	cargo run -q -p xtask -- site

# The static decoy binary that becomes the decoy image (found beside `decnet` or here).
decoy:
	cargo build -p decnet-decoy --release --target x86_64-unknown-linux-musl

release:
	scripts/setup.sh run
	cargo run -q -p xtask -- site
	cargo build -p decnet-decoy --release --target x86_64-unknown-linux-musl
	cargo build --release -p server

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --exclude frontend --all-targets -- -D warnings
	cargo clippy -p frontend --target wasm32-unknown-unknown -- -D warnings
